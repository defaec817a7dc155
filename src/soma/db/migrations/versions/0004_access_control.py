"""Access control: users, their login sessions, API keys, one-time setup tokens, and chat owners.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),  # argon2id, PHC string
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('admin', 'member')", name="users_role_check"),
    )
    op.execute("CREATE UNIQUE INDEX users_username_key ON users (lower(username))")
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),  # sha256 of the cookie value
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.Text, nullable=False),
        sa.Column("client_address", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),  # the absolute limit
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )
    op.create_index("login_sessions_user", "login_sessions", ["user_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),  # sha256 of the key
        sa.Column("prefix", sa.Text, nullable=False),  # the key's first characters, to recognise it
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("scopes", ARRAY(sa.Text), nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("scopes <@ ARRAY['admin', 'chat', 'metrics']::text[] AND cardinality(scopes) > 0", name="api_keys_scopes_check"),
    )
    op.create_table(
        "setup_tokens",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    # Who a chat belongs to: "user:<id>" or "key:<id>"; chats from before access control have none (admins see them).
    op.add_column("chat_sessions", sa.Column("owner", sa.Text))
    op.create_index("chat_sessions_owner", "chat_sessions", ["owner", sa.text("updated_at DESC")])
    op.create_index("audit_log_client_at", "audit_log", ["client_address", "at"])


def downgrade() -> None:
    op.drop_index("audit_log_client_at", "audit_log")
    op.drop_index("chat_sessions_owner", "chat_sessions")
    op.drop_column("chat_sessions", "owner")
    for table in ("setup_tokens", "api_keys", "login_sessions", "users"):
        op.drop_table(table)
