"""How similarity searches use pgvector's HNSW indexes: an exact scan of a small table, a depth that grows with a large one."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

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


def nearest(query: sa.Select[Any], table: sa.Table, distance: sa.ColumnElement[Any], k: int) -> sa.CompoundSelect:
    """`query`, a select from `table`, cut to its `k` rows nearest by `distance`, nearest first, in one statement.

    The statement holds two searches and runs one: an exact scan while the table is small, else
    the HNSW index at depth_for's depth. Which one, and the depth, come from a CTE the statement
    computes first: each search runs under a one-time filter on the CTE's answer, which PostgreSQL
    evaluates before it reads a row of that search, so the depth the CTE sets (for the statement's
    transaction only) is the depth its index scan starts with (pgvector reads hnsw.ef_search at
    the scan's first row). One round trip per search, not two, and nothing is left on a pooled
    connection. Each row also carries its `distance`.
    """
    indexed = sa.select(_searched_by_index(table, k).c.indexed).scalar_subquery()
    by_distance = sa.literal_column("distance")  # the column, not the expression again: computed once a row
    # distance + 0 is not the indexed expression, so the planner reads every row
    exact = query.add_columns((distance + 0).label("distance")).where(sa.not_(indexed)).order_by(by_distance).limit(k)
    searched = query.add_columns(distance.label("distance")).where(indexed).order_by(distance).limit(k)
    return sa.union_all(exact, searched).order_by(by_distance)


def _searched_by_index(table: sa.Table, k: int) -> sa.CTE:
    """One row: whether `table` is searched through its index; when it is, hnsw.ef_search is set for the transaction.

    The row count is the planner's own (pg_class.reltuples, kept by VACUUM, ANALYZE and CREATE
    INDEX): no scan. -1 (never counted) reads as 0, as does a missing table (max() of no row is
    null, which greatest() skips): a new table is small, and a restore builds its indexes, which
    counts it. The depth is depth_for's, in SQL (tests/memory/test_store.py checks
    that they agree).
    """
    return (
        sa.text(_SEARCHED_BY_INDEX)
        .bindparams(sa.bindparam("hnsw_table", table.name, sa.String), sa.bindparam("hnsw_k", k, sa.Integer))
        .columns(indexed=sa.Boolean)
        .cte(f"{table.name}_searched_by_index")
    )


# depth_for in SQL, with the same constants
_SEARCHED_BY_INDEX = f"""
    SELECT CASE WHEN rows >= {EXACT_BELOW}
                THEN set_config('hnsw.ef_search', least({MAX_EF_SEARCH}, greatest(:hnsw_k,
                       round({MIN_EF_SEARCH} + {EF_SEARCH_PER_TENFOLD} * log(rows / {EXACT_BELOW}))))::int::text, true) IS NOT NULL
                ELSE false END AS indexed
      FROM (SELECT greatest(max(reltuples), 0)::float8 AS rows FROM pg_class WHERE oid = to_regclass(:hnsw_table)) counted
"""
