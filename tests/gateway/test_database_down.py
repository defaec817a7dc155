"""While PostgreSQL refuses connections, every request gets 503 database_unavailable, never a 500; then it heals."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

from soma.db import url as db_url


def _connections(database_url: str, allowed: bool) -> None:
    """Let the gateway's database accept connections or not, ending the ones it has: PostgreSQL going away, as clients see it."""
    params = conninfo_to_dict(db_url.for_libpq(database_url))
    name = params["dbname"]
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            # Waiting (up to 5 s) until each backend is gone, as after a server stop: its connection's
            # socket is then closed, which is how a pooled connection is found dead (db.engine.hung_up).
            conn.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = %s", (name,))


async def test_requests_get_503_while_postgresql_refuses_and_200_once_it_is_back(api, database_url) -> None:
    assert (await api.get("/v1/sessions")).status_code == 200
    _connections(database_url, allowed=False)
    try:
        for method, path in (("GET", "/v1/sessions"), ("POST", "/v1/sessions"), ("GET", "/v1/memories/1")):
            answer = await api.request(method, path, json={} if method == "POST" else None)
            assert answer.status_code == 503, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "database_unavailable" and answer.headers["Retry-After"] == "5"
            assert "not currently accepting connections" in answer.json()["error"]["message"]
    finally:
        _connections(database_url, allowed=True)
    assert (await api.post("/v1/sessions", json={})).status_code == 201
