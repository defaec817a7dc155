"""tunnel_state.origin: where the leading tunnel supervisor points cloudflared, the gateway's tunnel door.

Reported with the rest of what the supervisor sees, so `GET /v1/tunnel` and `soma tunnel status`
show it whichever process answers (docs/security.md, "The public door").

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tunnel_state", sa.Column("origin", sa.Text))


def downgrade() -> None:
    op.drop_column("tunnel_state", "origin")
