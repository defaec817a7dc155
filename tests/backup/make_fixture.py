"""Write tests/backup/fixtures/backup-<schema revision>.tar: a backup made by this Soma, kept for good.

    .venv/bin/python -m tests.backup.make_fixture

tests/backup/test_upgrade.py restores every file in fixtures/, so a later schema change that
forgets to carry old backups forward (soma.backup.upgrade) fails there. Add a new file when the
schema or the format changes; never replace an old one.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from soma.db import embedded, migrate, schema
from tests.backup.conftest import make_archive, populate, populate_agents

FIXTURES = Path(__file__).parent / "fixtures"
FILE_BYTES = b"The keeper lights the lamp at dusk and logs every ship that passes.\n" * 40
# The chat's files, from schema 0013 on: one content twice (kept once), one binary.
WORKSPACE = {"log.csv": b"day,ships\nmonday,3\n", "copies/log.csv": b"day,ships\nmonday,3\n", "lamp.bin": bytes(range(256))}
WORKSPACES_FROM = "0013"  # the schema revision chats first had files at
AGENTS_FROM = "0014"  # the first with agent profiles, child chats and scheduled tasks (populate_agents)


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="soma-fixture-pg-"))
    data_dir.chmod(0o755)  # the server runs as another user that must reach its files
    server = embedded.ensure(data_dir)
    try:
        migrate.upgrade(server.url)
        installed = asyncio.run(populate(server.url, FILE_BYTES, WORKSPACE))
        asyncio.run(populate_agents(server.url, installed))
        archive = asyncio.run(make_archive(server.url))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    out = FIXTURES / f"backup-{schema.head()}.tar"
    out.write_bytes(archive)
    print(f"wrote {out}: {len(archive)} bytes")


if __name__ == "__main__":
    main()
