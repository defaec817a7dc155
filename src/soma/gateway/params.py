"""Types for ids and cursors in paths and queries, bounded to what their columns hold.

An id PostgreSQL cannot store is refused by validation (422, in the one error shape) and shown
as a range in the OpenAPI document, instead of reaching a query that fails with a 500.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le

BIGINT_MAX = 2**63 - 1  # PostgreSQL's bigint, the type of every integer id and event id

RowId = Annotated[int, Ge(1), Le(BIGINT_MAX)]  # an identity column's value: 1 and up
Cursor = Annotated[int, Ge(0), Le(BIGINT_MAX)]  # "after this id", where 0 means from the start
