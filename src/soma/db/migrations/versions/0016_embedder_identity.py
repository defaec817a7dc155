"""Which embedder made each vector, and the progress of re-embedding the vectors another one made.

- `memories` and `knowledge_chunks` gain `embedding_runtime` beside `embedding_model`: the two are
  the embedder's identity (soma.embeddings.embedder). Rows made before are 'fp32' (sentence-transformers
  on torch, then Soma's numpy forward pass: the same vectors within 2.2e-7).
- `reembedding`: one row, the re-embedding under way or last done (soma.embeddings.reembed): the
  embedder it makes vectors with, how many rows it has and had to do, and per table the last id
  it passed, so a killed worker's successor goes on from there.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

EARLIER_RUNTIME = "fp32"  # soma.embeddings.embedder.EARLIER_RUNTIME when this migration was written


def upgrade() -> None:
    for table in ("memories", "knowledge_chunks"):
        # The default fills the rows there are; new rows must name their runtime, so it goes again.
        op.add_column(table, sa.Column("embedding_runtime", sa.Text, nullable=False, server_default=EARLIER_RUNTIME))
        op.alter_column(table, "embedding_runtime", server_default=None)
    op.create_table(
        "reembedding",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("runtime", sa.Text, nullable=False),
        sa.Column("done", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("total", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("after", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("id = 1", name="reembedding_single_row"),
    )


def downgrade() -> None:
    op.drop_table("reembedding")
    for table in ("memories", "knowledge_chunks"):
        op.drop_column(table, "embedding_runtime")
