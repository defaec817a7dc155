"""A hash index on messages.content: the OpenAI-compatible API finds the chat a client's history continues.

An OpenAI client sends the whole conversation with every request; soma.openai_compat.continuity
looks up the chats whose latest message is the request's last earlier message, by equality on the
content. A hash index stores only a 32-bit hash per row, so it takes messages of any length, where
a B-tree refuses entries over about 2.7 kB.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX messages_content_hash ON messages USING hash (content)")


def downgrade() -> None:
    op.drop_index("messages_content_hash", table_name="messages")
