"""Where this process finds PostgreSQL: SOMA_DATABASE_URL, or the embedded server in SOMA_DATA_DIR."""

from __future__ import annotations

from soma import config
from soma.db import embedded


def open_database(settings: config.Settings) -> embedded.EmbeddedServer:
    """The database to use, starting the embedded server when no URL is configured."""
    if settings.database_url:
        return embedded.EmbeddedServer(url=settings.database_url, owner=False)
    return embedded.ensure(settings.data_dir)
