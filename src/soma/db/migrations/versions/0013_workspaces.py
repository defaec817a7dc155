"""Workspaces: each chat's files, in PostgreSQL, deleted with the chat; and a restore's staged file bytes.

`workspace_files` holds every file of a chat's workspace whole, one row a file (soma.workspaces).
Its bytes are stored uncompressed out of line (STORAGE EXTERNAL), so reading a piece of a large
file with substring() fetches only that piece: downloads and backups stream a file without holding
it; a backup lists the contents by sha256. `restore_file_pieces` holds a staged restore's workspace file bytes until it is applied.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_files",
        sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("size = octet_length(data)", name="workspace_files_size_check"),
    )
    op.execute("ALTER TABLE workspace_files ALTER COLUMN data SET STORAGE EXTERNAL")
    op.create_index("workspace_files_sha256", "workspace_files", ["sha256"])  # a backup writes each content once, in sha256 order
    op.create_table(
        "restore_file_pieces",
        sa.Column("restore_id", UUID(as_uuid=True), sa.ForeignKey("restores.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("ordinal", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("restore_file_pieces")
    op.drop_table("workspace_files")
