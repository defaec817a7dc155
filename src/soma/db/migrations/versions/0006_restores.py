"""Restores staged in PostgreSQL: an uploaded backup waits here, verified, until an admin applies or discards it.

Staging in the database (not on a gateway's disk) lets any replica apply it, and a restart in
between loses nothing but what was not yet staged. A staged table segment is one JSON array of
records in this schema's shape; a staged knowledge file is a knowledge_blobs row held by
restore_blobs, so the bytes are written once and a document delete never removes them meanwhile.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSON, JSONB, UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restores",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("state", sa.Text, nullable=False, server_default="staged"),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("schema_revision", sa.Text, nullable=False),
        sa.Column("manifest", JSONB, nullable=False),
        sa.Column("settings", JSONB, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("finished_by", sa.Text),
        sa.Column("mode", sa.Text),
        sa.CheckConstraint("state IN ('staged', 'applied', 'discarded')", name="restores_state_check"),
        sa.CheckConstraint("mode IN ('overwrite', 'preserve_settings')", name="restores_mode_check"),
    )
    op.create_table(
        "restore_segments",
        sa.Column("restore_id", UUID(as_uuid=True), sa.ForeignKey("restores.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("records", JSON, nullable=False),
    )
    op.create_table(
        "restore_blobs",
        sa.Column("restore_id", UUID(as_uuid=True), sa.ForeignKey("restores.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sha256", sa.Text, sa.ForeignKey("knowledge_blobs.sha256", onupdate="CASCADE"), primary_key=True),
    )
    op.create_index("restore_blobs_sha256", "restore_blobs", ["sha256"])


def downgrade() -> None:
    op.drop_table("restore_blobs")
    op.drop_table("restore_segments")
    op.drop_table("restores")
