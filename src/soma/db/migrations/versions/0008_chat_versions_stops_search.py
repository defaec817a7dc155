"""Chats people expect: earlier versions of a message, stop requests for running turns, full-text search.

`messages.versions` keeps what a regenerated answer or an edited question said before, oldest
first. `turn_stops` holds one row per running turn job asked to stop; the worker running it polls
for it (no foreign key: a restore TRUNCATEs the chat tables, and the row goes when the turn ends).
The GIN indexes serve GET /v1/sessions?query=…; the 'simple' configuration neither stems nor drops
stop words, so it works the same in every language.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("versions", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    op.create_table(
        "turn_stops",
        sa.Column("job_id", sa.BigInteger, primary_key=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.execute("CREATE INDEX chat_sessions_title_search ON chat_sessions USING gin (to_tsvector('simple'::regconfig, title))")
    # Only the first 100,000 characters are indexed: a tsvector holds at most 1 MB, and a longer
    # answer must still be stored.
    op.execute(
        "CREATE INDEX messages_content_search ON messages USING gin (to_tsvector('simple'::regconfig, left(content, 100000)))"
    )


def downgrade() -> None:
    op.drop_index("messages_content_search", table_name="messages")
    op.drop_index("chat_sessions_title_search", table_name="chat_sessions")
    op.drop_table("turn_stops")
    op.drop_column("messages", "versions")
