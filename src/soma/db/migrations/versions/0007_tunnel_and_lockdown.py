"""The tunnel's desired and observed state, and the emergency lockdown: one row each, shared by every process.

Both live in PostgreSQL so the UI switch and `soma emergency-stop` work the same under `soma up`
and in Kubernetes, and reach every replica: the tunnel supervisor and the gateways read them.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tunnel_state",
        sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.false()),  # what an admin asked for
        sa.Column("mode", sa.Text, nullable=False, server_default="token"),
        sa.Column("changed_at", sa.DateTime(timezone=True)),
        sa.Column("changed_by", sa.Text),
        sa.Column("state", sa.Text, nullable=False, server_default="off"),  # what the supervisor sees
        sa.Column("public_url", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("reported_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("id = 1", name="tunnel_state_single_row"),
        sa.CheckConstraint("mode IN ('token', 'quick')", name="tunnel_state_mode_check"),
        sa.CheckConstraint("state IN ('off', 'starting', 'connected', 'failed')", name="tunnel_state_state_check"),
    )
    op.execute("INSERT INTO tunnel_state (id) VALUES (1)")
    op.create_table(
        "lockdown",
        sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("reason", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("started_by", sa.Text),
        sa.Column("lifted_at", sa.DateTime(timezone=True)),
        sa.Column("lifted_by", sa.Text),
        sa.CheckConstraint("id = 1", name="lockdown_single_row"),
    )
    op.execute("INSERT INTO lockdown (id) VALUES (1)")


def downgrade() -> None:
    op.drop_table("lockdown")
    op.drop_table("tunnel_state")
