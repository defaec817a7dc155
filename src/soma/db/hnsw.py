"""How similarity searches use pgvector's HNSW indexes: an exact scan of a small table, a depth that grows with a large one."""

from __future__ import annotations

import math
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Search:
    """The two statements of one similarity search: built once by `search`, run by `nearest` with the vector bound."""

    indexed: sa.Select[Any]  # the depth set and the index searched, in one statement; each row says whether it was
    exact: sa.Select[Any]  # every row read: for a small table


def search(query: sa.Select[Any], table: sa.Table, distance: sa.ColumnElement[Any], k: int) -> Search:
    """The statements that cut `query`, a select from `table`, to its `k` rows nearest by `distance`, nearest first.

    `indexed` reads the table's size and, when it is large, sets the depth (for its transaction
    only) in a CTE, then searches the index in a LATERAL subquery under a filter on the CTE's
    answer: a nested loop fetches the CTE's row, which sets the depth, before it starts the
    subquery, and pgvector reads hnsw.ef_search when its scan starts, so the statement's own
    search runs at the depth it set. The exact scan is a statement of its own rather than a
    branch of that one: the planner would count the cost of reading a million rows in a branch
    that never runs, and past jit_above_cost it would compile every search with LLVM. Building
    these costs about 1 ms of CPU (0.7 building, 0.3 keying for SQLAlchemy's cache), more than a
    round trip: build them once per query and k, with the vector as a bound parameter.
    """
    answer = _searched_by_index(table, k)
    found = query.add_columns(distance.label("distance")).where(answer.c.indexed).order_by(distance).limit(k).lateral("nearest")
    indexed = sa.select(answer.c.indexed, *found.c).select_from(answer.outerjoin(found, sa.true())).order_by(found.c.distance)
    # distance + 0 is not the indexed expression, so the planner reads every row; ordering by the
    # column, not the expression again, computes each row's distance once for it
    exact = query.add_columns((distance + 0).label("distance")).order_by(sa.literal_column("distance")).limit(k)
    return Search(indexed, exact)


async def nearest(conn: AsyncConnection, statements: Search, params: dict[str, Any]) -> list[sa.Row[Any]]:
    """The rows `statements` find, nearest first, each with its `distance`: in one round trip from a table
    searched through its index, in two from a small one (its size first, then every row)."""
    rows = (await conn.execute(statements.indexed, params)).all()
    if rows[0].indexed:
        return [row for row in rows if row.distance is not None]  # nothing found is one row of nulls
    return list((await conn.execute(statements.exact, params)).all())


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
