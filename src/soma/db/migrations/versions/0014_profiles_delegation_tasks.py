"""Agent profiles, delegated (child) chats, and scheduled tasks with their runs.

- `agent_profiles`: what a chat's agent is (its prompt, model, tools, step limit); three ship here.
- `chat_sessions` gains `profile`, and for a subordinate chat made by the `delegate` tool its
  parent chat, the parent's tool call and its depth below the top chat (unique per parent call,
  so a parent resumed after a crash finds the child it made instead of making another).
- `scheduled_tasks` and `task_runs`: one run per task and due time (unique), so a due time becomes
  one turn however many workers see it.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The profiles every Soma starts with; admins may edit or delete them.
SHIPPED = [
    {
        "name": "assistant",
        "description": "A general assistant: answers, remembers, searches knowledge and memory, and uses any enabled tool.",
        "system_prompt": "",
        "tools": None,
    },
    {
        "name": "researcher",
        "description": "Reads the knowledge files and memory to answer with sources; does not change anything.",
        "system_prompt": "You are a researcher. Search the knowledge files and memory before answering, cite what you used as [n], "
        "and say plainly when nothing you found answers the question.",
        "tools": ["search_knowledge", "search_memory"],
    },
    {
        "name": "coder",
        "description": "Writes and runs Python or shell code in the sandbox to compute, convert files and make charts.",
        "system_prompt": "You are a careful programmer. When a question needs computing, reading or writing files, run code with "
        "run_code and answer from its output; show the code you ran when it helps.",
        "tools": ["run_code", "search_knowledge"],
    },
]


def upgrade() -> None:
    profiles = op.create_table(
        "agent_profiles",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("system_prompt", sa.Text, nullable=False, server_default=""),
        sa.Column("model", sa.Text),
        sa.Column("tools", JSONB),
        sa.Column("max_tool_steps", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("max_tool_steps BETWEEN 1 AND 50", name="agent_profiles_steps_check"),
    )
    op.bulk_insert(profiles, SHIPPED)
    op.add_column("chat_sessions", sa.Column("profile", sa.Text))
    op.add_column("chat_sessions", sa.Column("parent_session_id", UUID(as_uuid=True), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE")))
    op.add_column("chat_sessions", sa.Column("parent_call_id", sa.Text))
    op.add_column("chat_sessions", sa.Column("depth", sa.Integer, nullable=False, server_default="0"))
    op.create_unique_constraint("chat_sessions_parent_call", "chat_sessions", ["parent_session_id", "parent_call_id"])
    op.create_table(
        "scheduled_tasks",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("profile", sa.Text, sa.ForeignKey("agent_profiles.name", onupdate="CASCADE", ondelete="RESTRICT")),
        sa.Column("schedule", JSONB, nullable=False),
        sa.Column("target", sa.Text, nullable=False, server_default="new_chat"),
        sa.Column("session_id", UUID(as_uuid=True)),  # no foreign keys to the chat tables: a restore TRUNCATEs them
        sa.Column("missed", sa.Text, nullable=False, server_default="skip"),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("webhook_url", sa.Text),
        sa.Column("webhook_secret", sa.Text),
        sa.Column("next_run_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("target IN ('new_chat', 'same_chat')", name="scheduled_tasks_target_check"),
        sa.CheckConstraint("missed IN ('skip', 'run_once')", name="scheduled_tasks_missed_check"),
    )
    op.create_index("scheduled_tasks_due", "scheduled_tasks", ["next_run_at"], postgresql_where=sa.text("NOT paused AND next_run_at IS NOT NULL"))
    op.create_index("scheduled_tasks_owner", "scheduled_tasks", ["owner"])
    op.create_table(
        "task_runs",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("task_id", UUID(as_uuid=True), sa.ForeignKey("scheduled_tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manual", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("outcome", sa.Text, nullable=False, server_default="running"),
        sa.Column("reason", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("session_id", UUID(as_uuid=True)),  # no foreign keys to the chat tables: a restore TRUNCATEs them
        sa.Column("message_id", sa.BigInteger),
        sa.Column("webhook", JSONB),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("task_id", "due_at", name="task_runs_once_per_due_time"),
        sa.CheckConstraint("outcome IN ('running', 'answered', 'failed', 'skipped')", name="task_runs_outcome_check"),
    )
    op.create_index("task_runs_newest", "task_runs", ["task_id", sa.text("id DESC")])
    op.create_index("task_runs_message", "task_runs", ["message_id"])


def downgrade() -> None:
    op.drop_table("task_runs")
    op.drop_table("scheduled_tasks")
    op.drop_constraint("chat_sessions_parent_call", "chat_sessions")
    for column in ("depth", "parent_call_id", "parent_session_id", "profile"):
        op.drop_column("chat_sessions", column)
    op.drop_table("agent_profiles")
