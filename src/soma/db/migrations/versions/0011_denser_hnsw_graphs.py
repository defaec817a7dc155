"""The HNSW indexes built again with ef_construction 128 (pgvector's default, which 0002 used, is 64).

A graph built with the wider candidate list links each vector to better neighbours, so a search
reaches the same recall at a smaller hnsw.ef_search, in less time: at a million embedding-like
vectors (bench/memory_search.py), recall@10 at ef_search 200 rose from 0.925 to 0.946 and at 250
from 0.952 to 0.964. m stays 16: a larger m makes every node, and every step of a search, bigger.
soma.db.hnsw chooses the depth for this graph. The build takes longer (a million rows: 1280 s
instead of 932 s, on 2 cores); a restore builds the indexes as the database defines them, so
it builds these.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = {"memories_embedding_hnsw": "memories", "knowledge_chunks_embedding_hnsw": "knowledge_chunks"}
# As soma.backup.apply builds them: about 4 kB a row in memory while the graph is built (it slows
# down several times once it no longer fits), up to 1 GiB, and never less than the server gives.
_MEMORY = """
    SELECT set_config('maintenance_work_mem', greatest(
             (SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'),
             least(max(greatest(reltuples, 0))::bigint * 4, 1048576))::text || 'kB', true)
      FROM pg_class WHERE oid IN (to_regclass('memories'), to_regclass('knowledge_chunks'))
"""


def upgrade() -> None:
    _build({"m": 16, "ef_construction": 128})


def downgrade() -> None:
    _build({})  # as 0002 built them: pgvector's defaults


def _build(graph: dict[str, int]) -> None:
    """Each index built again with these options, unless it already is: an operator may have built
    it beforehand with CREATE INDEX CONCURRENTLY, to keep a large table searchable meanwhile."""
    options = " WITH (" + ", ".join(f"{key} = {value}" for key, value in graph.items()) + ")" if graph else ""
    shown = " WITH (" + ", ".join(f"{key}='{value}'" for key, value in graph.items()) + ")" if graph else "vector_cosine_ops)"  # as pg_indexes ends it
    op.execute(_MEMORY)
    for name, table in INDEXES.items():
        built = op.get_bind().execute(sa.text("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :name"), {"name": name}).scalar()
        if built is not None and built.endswith(shown):
            continue
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON {table} USING hnsw (embedding vector_cosine_ops){options}")
