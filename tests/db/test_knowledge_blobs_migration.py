"""Migration 0005: knowledge files under SOMA_DATA_DIR/knowledge move into the database, byte for byte, or not at all."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from soma import config
from soma.db import migrate, schema
from soma.db import url as db_url
from soma.knowledge import blobs
from tests import procs
from tests.db.test_migrate import _empty_database

GUIDE = b"# Garden guide\n\nTomatoes need six hours of direct sun.\n"
LARGE = bytes(range(256)) * (blobs.PIECE_BYTES * 5 // 2 // 256)  # two and a half pieces
EMPTY = b""


def _alembic(database_url: str, action: str, revision: str) -> None:
    """Run Alembic's upgrade or downgrade to a revision, in this process."""
    engine = sa.create_engine(db_url.for_sqlalchemy(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            getattr(command, action)(migrate.alembic_config(conn), revision)
            conn.commit()
    finally:
        engine.dispose()


def _rows(database_url: str, query: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


def _path(data_dir: Path, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    return data_dir / "knowledge" / sha[:2] / sha


def _database_at_0004(postgres, name: str, data_dir: Path, files: dict[str, bytes]) -> str:
    """A database migrated to 0004 holding one document per file, and the files written where 0004's Soma kept them."""
    url = _empty_database(postgres, name)
    _alembic(url, "upgrade", "0004")
    with psycopg.connect(url) as conn:
        for filename, data in files.items():
            conn.execute(
                "INSERT INTO knowledge_documents (filename, content_type, size_bytes, sha256) VALUES (%s, 'text/plain', %s, %s)",
                (filename, len(data), hashlib.sha256(data).hexdigest()),
            )
            _path(data_dir, data).parent.mkdir(parents=True, exist_ok=True)
            _path(data_dir, data).write_bytes(data)
    return url


def _migrate(url: str, data_dir: Path):
    return procs.run_soma(procs.soma_env(url, data_dir=str(data_dir)), "migrate", timeout=120)


def _stored(url: str) -> dict[str, tuple[int, bytes]]:
    """Each blob's size and its pieces joined in order."""
    sizes = dict(_rows(url, "SELECT sha256, size_bytes FROM knowledge_blobs"))
    pieces = _rows(url, "SELECT sha256, data FROM knowledge_blob_pieces ORDER BY sha256, ordinal")
    return {sha: (size, b"".join(data for s, data in pieces if s == sha)) for sha, size in sizes.items()}


@pytest.fixture
def soma_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SOMA_DATA_DIR for migrations run in this process (config.get() reads it once)."""
    monkeypatch.setenv("SOMA_DATA_DIR", str(tmp_path))
    config.get.cache_clear()
    yield tmp_path
    config.get.cache_clear()


def test_migrate_moves_every_knowledge_file_into_the_database_byte_for_byte(postgres, tmp_path) -> None:
    url = _database_at_0004(postgres, "blobs_move", tmp_path, {"garden.md": GUIDE, "large.txt": LARGE, "empty.txt": EMPTY})

    result = _migrate(url, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"applied: soma 0004 -> {schema.head()}\napplied: procrastinate schema.sql\n"
    assert _stored(url) == {hashlib.sha256(d).hexdigest(): (len(d), d) for d in (GUIDE, LARGE, EMPTY)}
    assert _rows(url, f"SELECT count(*) FROM knowledge_blob_pieces WHERE sha256 = '{hashlib.sha256(LARGE).hexdigest()}'") == [(3,)]
    assert _path(tmp_path, GUIDE).read_bytes() == GUIDE  # left for the operator to delete


def test_migrate_changes_nothing_and_names_the_files_it_cannot_move(postgres, tmp_path) -> None:
    url = _database_at_0004(postgres, "blobs_missing", tmp_path, {"garden.md": GUIDE, "large.txt": LARGE, "gone.txt": b"gone"})
    _path(tmp_path, b"gone").unlink()
    [gone_id] = _rows(url, "SELECT id FROM knowledge_documents WHERE filename = 'gone.txt'")[0]

    result = _migrate(url, tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: 1 of 3 knowledge files cannot be moved: {_path(tmp_path, b'gone')} (gone.txt, document {gone_id}): missing. "
        "`soma migrate` moves knowledge files from SOMA_DATA_DIR/knowledge into the database and changed nothing, "
        "since these are missing or altered. Set SOMA_DATA_DIR to the folder the gateway stored uploads in (with the "
        "soma-stack chart, set migrations.knowledgeClaim to the claim that held /data) and run `soma migrate` again; "
        "for a file that is lost, delete its document with the Soma version still running (DELETE /v1/knowledge/{id}) first."
    )
    assert _rows(url, "SELECT version_num FROM alembic_version") == [("0004",)]
    assert _rows(url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'knowledge_blob%'") == [(0,)]


def test_migrate_refuses_a_file_whose_bytes_changed(postgres, tmp_path) -> None:
    url = _database_at_0004(postgres, "blobs_altered", tmp_path, {"garden.md": GUIDE})
    _path(tmp_path, GUIDE).write_bytes(b"edited by hand")
    [document_id] = _rows(url, "SELECT id FROM knowledge_documents")[0]

    result = _migrate(url, tmp_path)

    assert result.returncode == 1
    assert (
        f"error: 1 of 1 knowledge files cannot be moved: {_path(tmp_path, GUIDE)} (garden.md, document {document_id}): "
        f"altered, its sha256 is now {hashlib.sha256(b'edited by hand').hexdigest()}. "
    ) in result.stderr
    assert _rows(url, "SELECT version_num FROM alembic_version") == [("0004",)]


def test_a_downgrade_writes_the_files_back(postgres, tmp_path, soma_data_dir) -> None:
    url = _database_at_0004(postgres, "blobs_back", soma_data_dir, {"garden.md": GUIDE, "large.txt": LARGE})
    _alembic(url, "upgrade", "0005")
    for data in (GUIDE, LARGE):
        _path(soma_data_dir, data).unlink()

    _alembic(url, "downgrade", "0004")

    assert _path(soma_data_dir, GUIDE).read_bytes() == GUIDE
    assert _path(soma_data_dir, LARGE).read_bytes() == LARGE
    assert _rows(url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'knowledge_blob%'") == [(0,)]
