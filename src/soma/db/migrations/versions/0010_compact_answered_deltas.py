"""Drop the `assistant.delta` events of answers already stored: a long chat opens in proportion to its messages.

Since this version, storing an answer (soma.conversations.messages.store_reply) deletes in the same
transaction every delta written since the session's previous `assistant.message`: the answer's own
streamed pieces and those of failed or killed runs before it, which clients drop anyway. This does
the same for the log older versions kept: every delta with a later `assistant.message` in its
session goes. Deltas after a session's last answer (a turn streaming now, or one that failed last)
stay. The ids of the events that remain do not change, so a client resuming after any id it saw
gets the same answer.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DELETE FROM session_events e
         USING (SELECT session_id, max(id) AS last_answer FROM session_events
                 WHERE type = 'assistant.message' GROUP BY session_id) a
         WHERE e.session_id = a.session_id AND e.id < a.last_answer AND e.type = 'assistant.delta'
        """
    )


def downgrade() -> None:
    pass  # the deleted deltas only repeated the stored answers, in pieces; nothing needs them back
