"""How similarity searches use pgvector's HNSW indexes: an exact scan of a small table, a depth that grows with a large one."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

# Below this many rows (pg_class.reltuples) a search reads every row: about as fast as the index
# there (6-9 ms at 10,000), and it never misses. The index can: at pgvector's default depth (40)
# one fact among 1,000 clustered, unrelated memories was missed by 24 of 25 index builds, and by
# none at 100, the least depth used above this size.
EXACT_BELOW = 10_000
# Above it, the candidates an HNSW scan keeps (hnsw.ef_search) grow by EF_SEARCH_PER_TENFOLD each
# time the table grows tenfold: a bigger graph needs a wider search for the same recall, and the
# time a search takes grows with its depth. For the graphs migration 0011 builds (m 16,
# ef_construction 128), bench/memory_search.py measured recall@10 on embedding-like vectors of 1.000
# at 10,000 rows (ef_search 100), 0.991 at 100,000 (175) and 0.964 at 1,000,000 (250, p95 18 ms on
# a quiet run); at a million, 200 gave 0.946. The graphs of pgvector's default ef_construction 64
# needed 300 there for 0.971.
MIN_EF_SEARCH = 100
EF_SEARCH_PER_TENFOLD = 75
MAX_EF_SEARCH = 1000  # pgvector refuses more


def depth_for(rows: float, k: int = 1) -> int | None:
    """The hnsw.ef_search for a table of about `rows` rows returning `k`, or None: scan it exactly."""
    if rows < EXACT_BELOW:
        return None
    grown = MIN_EF_SEARCH + EF_SEARCH_PER_TENFOLD * math.log10(rows / EXACT_BELOW)
    return min(MAX_EF_SEARCH, max(k, round(grown)))


async def nearest_first(conn: AsyncConnection, table: sa.Table, distance: sa.ColumnElement[Any], k: int) -> sa.ColumnElement[Any]:
    """The ORDER BY that finds the `k` rows of `table` nearest by `distance`, with the connection's search depth set.

    The depth is set for the session, not the transaction: in autocommit (a turn's reads) a local
    setting ends with its own statement, and the search after it ran at pgvector's default of 40.
    Every index search sets its own depth first, so what a pooled connection keeps is never used.
    """
    rows = (await conn.execute(_ROWS_AND_DEPTH, {"table": table.name, "k": k, **_RULE})).scalar_one()
    if rows < EXACT_BELOW:
        return distance + 0  # not the indexed expression, so the planner reads every row
    return distance


# The planner's own row count, kept by VACUUM, ANALYZE and CREATE INDEX: no scan. -1 (never
# counted) reads as 0: a new table is small, and a restore builds its indexes, which counts it.
# The same statement sets the depth (depth_for, in SQL; tests/memory/test_store.py checks they
# agree): one round trip before the search, not two: 0.27 ms instead of 0.54 (p50; p95 0.42 / 0.86)
# on 2 busy cores.
_RULE = {"exact_below": EXACT_BELOW, "least": MIN_EF_SEARCH, "per_tenfold": EF_SEARCH_PER_TENFOLD, "most": MAX_EF_SEARCH}
_ROWS_AND_DEPTH = sa.text(
    """
    SELECT rows, CASE WHEN rows >= :exact_below THEN set_config('hnsw.ef_search', least(:most, greatest(:k,
             round(:least + :per_tenfold * log(rows / :exact_below))))::int::text, false) END
      FROM (SELECT coalesce((SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = to_regclass(:table)), 0) AS rows) counted
    """
)
