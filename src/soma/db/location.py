"""Where a command finds PostgreSQL (SOMA_DATABASE_URL, or the embedded server in SOMA_DATA_DIR), checked before use.

Every command that uses the database opens it here, so each one fails the same way, with one line:
DatabaseUnavailable when PostgreSQL does not answer, SchemaBehind when `soma migrate` has not run.
"""

from __future__ import annotations

import sqlalchemy as sa

from soma import config
from soma.db import embedded, schema
from soma.db import engine as db_engine


def open_database(settings: config.Settings) -> embedded.EmbeddedServer:
    """The database, once it answers; the embedded server is started when no URL is configured.

    For `soma migrate` and `soma up`, which migrate it; every other command uses `open_migrated`.
    """
    return _open(settings, migrated=False)


def open_migrated(settings: config.Settings) -> embedded.EmbeddedServer:
    """The database, once it answers and holds this version's schema."""
    return _open(settings, migrated=True)


def _open(settings: config.Settings, migrated: bool) -> embedded.EmbeddedServer:
    if settings.database_url:
        database = embedded.EmbeddedServer(url=settings.database_url, owner=False)
    else:
        database = embedded.ensure(settings.data_dir, settings.embedded_postgres_user)
    try:
        _check(database.url, migrated)
    except BaseException:
        database.stop()  # an embedded server this command started must not outlive it
        raise
    return database


def _check(database_url: str, migrated: bool) -> None:
    engine = db_engine.create_once(database_url)
    try:
        with engine.connect() as conn:
            if migrated:
                schema.require_current(conn)
    except sa.exc.OperationalError as exc:
        raise db_engine.unavailable(database_url, exc) from exc.orig
    finally:
        engine.dispose()
