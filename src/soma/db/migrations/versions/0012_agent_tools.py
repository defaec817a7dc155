"""The agent's tools: MCP servers, what connecting to them found, per-tool choices, and approvals.

`tool_servers` holds each server's configuration (secrets only as references), `tool_catalogue`
what the last connection found, `tool_settings` an admin's enable/approval choice per tool, and
`tool_approvals` a user's answer to a call that asked first. See soma.tools.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tool_servers",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("config", sa.JSON, nullable=False),  # json, not jsonb: an export gives the entry back byte for byte, keys in order
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("init_timeout", sa.Float, nullable=False, server_default="10"),
        sa.Column("call_timeout", sa.Float, nullable=False, server_default="120"),
        sa.Column("output_cap", sa.Integer, nullable=False, server_default="65536"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "tool_catalogue",
        sa.Column("server", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("tools", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state IN ('connected', 'failed', 'disabled')", name="tool_catalogue_state_check"),
    )
    op.create_table(
        "tool_settings",
        sa.Column("server", sa.Text, primary_key=True),
        sa.Column("tool", sa.Text, primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("approval", sa.Text, nullable=False, server_default="auto"),
        sa.CheckConstraint("approval IN ('auto', 'ask')", name="tool_settings_approval_check"),
    )
    op.create_table(
        "tool_approvals",
        sa.Column("session_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("call_id", sa.Text, primary_key=True),
        sa.Column("allow", sa.Boolean, nullable=False),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    for table in ("tool_approvals", "tool_settings", "tool_catalogue", "tool_servers"):
        op.drop_table(table)
