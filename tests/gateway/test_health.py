"""/health touches nothing; /ready reports PostgreSQL and the schema."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import httpx
from httpx import ASGITransport

from soma import supervise
from soma.db import embedded, migrate, schema
from soma.gateway import app as gateway_app


async def test_health_is_200_without_touching_the_database(settings) -> None:
    app = gateway_app.create(settings, "postgresql://nobody@127.0.0.1:1/nothing")
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=ASGITransport(app=app), base_url="http://soma") as client:
            response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_is_200_on_a_current_schema(api) -> None:
    response = await api.get("/ready")
    checks = {"database": "ok", "schema": "ok", "slm_key": "ok"}
    assert (response.status_code, response.json()) == (200, {"status": "ready", "checks": checks})


async def test_ready_stays_200_but_degraded_without_an_slm_key(settings, database_url) -> None:
    app = gateway_app.create(settings.model_copy(update={"slm_api_key": None}), database_url)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=ASGITransport(app=app), base_url="http://soma") as client:
            response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["slm_key"].startswith("missing: SOMA_SLM_API_KEY is not set")


async def test_ready_is_503_naming_the_schema_when_migrations_are_missing(settings, postgres) -> None:
    import psycopg

    admin = postgres.url.replace("/soma?", "/postgres?")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "unmigrated"')
    app = gateway_app.create(settings, postgres.url.replace("/soma?", "/unmigrated?"))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=ASGITransport(app=app), base_url="http://soma") as client:
            response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {
            "schema": f"soma schema at nothing, needs {schema.head()}. The database schema is older than this "
            "version of Soma. Run `soma migrate`, then start again."
        },
    }


async def test_ready_is_503_with_postgresql_stopped_and_200_once_it_is_back(settings) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="soma-test-ready-"))
    data_dir.chmod(0o755)
    server = embedded.ensure(data_dir)
    try:
        migrate.upgrade(server.url)
        app = gateway_app.create(settings, server.url)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=ASGITransport(app=app), base_url="http://soma") as client:
                assert (await client.get("/ready")).status_code == 200
                server.stop()

                down = await client.get("/ready")
                assert down.status_code == 503
                assert list(down.json()["checks"]) == ["database"]
                assert "PostgreSQL did not answer" in down.json()["checks"]["database"]
                assert (await client.get("/health")).status_code == 200

                server = embedded.ensure(data_dir)
                assert (await client.get("/ready")).status_code == 200
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_ready_names_the_child_soma_up_is_starting_again_and_stays_200_degraded(api, settings) -> None:
    children = {"gateway": "starting", "worker": "down: it was killed by SIGKILL; starting it again", "tunnel": "ok"}
    state = {"pid": os.getppid(), "children": children}  # as if soma up had started this process
    (settings.data_dir / supervise.STATE_FILE).write_text(json.dumps(state))

    response = await api.get("/ready")

    checks = {"database": "ok", "schema": "ok", "slm_key": "ok", "worker": children["worker"], "tunnel": "ok"}
    assert (response.status_code, response.json()) == (200, {"status": "degraded", "checks": checks})


async def test_ready_ignores_children_written_by_a_soma_up_that_is_not_its_parent(api, settings) -> None:
    state = {"pid": os.getpid(), "children": {"worker": "down: it exited with code 1; starting it again"}}
    (settings.data_dir / supervise.STATE_FILE).write_text(json.dumps(state))

    response = await api.get("/ready")

    checks = {"database": "ok", "schema": "ok", "slm_key": "ok"}
    assert (response.status_code, response.json()) == (200, {"status": "ready", "checks": checks})
