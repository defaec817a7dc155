"""Core chat tables: sessions, messages, the per-session event log, agent settings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOTIFY_FUNCTION = """
CREATE FUNCTION soma_notify_session_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text := json_build_object('s', NEW.session_id, 'i', NEW.id, 't', NEW.type, 'd', NEW.data)::text;
BEGIN
    -- Gateways forward the event straight from the payload; one too big for NOTIFY's
    -- 8000-byte limit goes without its data, and gateways read it from the table.
    IF octet_length(payload) > 7900 THEN
        payload := json_build_object('s', NEW.session_id, 'i', NEW.id)::text;
    END IF;
    PERFORM pg_notify('soma_session_events', payload);
    RETURN NULL;
END;
$$;
"""

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION soma_refuse_event_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'session_events is append-only';
END;
$$;
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    now = sa.text("now()")
    op.create_table(
        "chat_sessions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("last_event_id", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("reply_to", sa.BigInteger, sa.ForeignKey("messages.id", ondelete="CASCADE"), unique=True),
        sa.Column("meta", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.CheckConstraint("role IN ('user', 'assistant')", name="messages_role_check"),
    )
    op.create_table(
        "session_events",
        sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.create_table(
        "agent_settings",
        sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
        sa.Column("data", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.CheckConstraint("id = 1", name="agent_settings_single_row"),
    )
    op.create_table(
        "soma_procrastinate_migrations",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.create_index("messages_session_order", "messages", ["session_id", "id"])
    op.create_index("chat_sessions_recent", "chat_sessions", [sa.text("updated_at DESC")])
    op.execute(NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER session_events_notify AFTER INSERT ON session_events "
        "FOR EACH ROW EXECUTE FUNCTION soma_notify_session_event()"
    )
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(
        "CREATE TRIGGER session_events_append_only BEFORE UPDATE ON session_events "
        "FOR EACH ROW EXECUTE FUNCTION soma_refuse_event_update()"
    )
    op.execute("INSERT INTO agent_settings (id) VALUES (1)")


def downgrade() -> None:
    for name in ("soma_procrastinate_migrations", "agent_settings", "session_events", "messages", "chat_sessions"):
        op.drop_table(name)
    op.execute("DROP FUNCTION soma_notify_session_event()")
    op.execute("DROP FUNCTION soma_refuse_event_update()")
