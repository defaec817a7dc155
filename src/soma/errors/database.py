"""PostgreSQL: the schema, the connection, the embedded server."""

from __future__ import annotations

from soma.errors.base import SomaError


class SchemaBehind(SomaError):
    """The database schema is older than this version of Soma. Run `soma migrate`, then start again."""

    status_code = 503
    code = "schema_behind"


class DatabaseUnavailable(SomaError):
    """PostgreSQL did not answer or refused the connection. Check SOMA_DATABASE_URL (or the embedded server in SOMA_DATA_DIR), that the server runs and that it accepts this user."""

    status_code = 503
    code = "database_unavailable"

    def __init__(self, detail: str | None = None, retry_after: int | None = None) -> None:
        self.retry_after = retry_after  # seconds, sent as Retry-After when the gateway answers with this
        super().__init__(detail)


class EmbeddedPostgresFailed(SomaError):
    """The embedded PostgreSQL server could not start. Read its log in SOMA_DATA_DIR/postgres/log, or set SOMA_DATABASE_URL to use another server."""

    code = "embedded_postgres_failed"
