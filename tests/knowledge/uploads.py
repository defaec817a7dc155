"""Watching uploads in flight from the database: their pieces are written before their transaction commits."""

from __future__ import annotations

import psycopg

# Backends other than this one holding the lock that inserting pieces takes: uploads whose transaction is open.
_WRITERS = (
    "SELECT count(*) FROM pg_locks WHERE relation = 'knowledge_blob_pieces'::regclass"
    " AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()"
)


def pieces_being_written(database_url: str) -> int:
    """How many uploads have pieces written but not yet committed (or rolled back)."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(_WRITERS).fetchone()[0]
