"""Every backup Soma ever made still restores: the ones kept in fixtures/ are restored by today's code."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory

from soma.auth import admin
from soma.backup import apply, staging, streams, upgrade
from soma.db import engine as db_engine
from soma.db import migrate, schema
from soma.embeddings import reembed
from tests.backup.conftest import TASK
from tests.backup.make_fixture import AGENTS_FROM, FILE_BYTES, FIXTURES, WORKSPACE, WORKSPACES_FROM

EMBEDDER_FROM = "0016"  # the first revision whose rows name their embedder's runtime
KEPT = sorted(FIXTURES.glob("backup-*.tar"))


def test_every_migration_says_what_it_does_to_what_a_backup_holds() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    later = set(upgrade.later_revisions(upgrade.FIRST_REVISION))
    assert later == {s.revision for s in scripts.walk_revisions()} - set(upgrade._earlier(upgrade.FIRST_REVISION))
    undeclared = later - upgrade.UNCHANGED - set(upgrade.CHANGES)
    assert not undeclared, f"add each of {sorted(undeclared)} to soma.backup.upgrade.UNCHANGED or CHANGES"
    assert f"backup-{schema.head()}.tar" in {p.name for p in KEPT}, "run python -m tests.backup.make_fixture for the new schema"


@pytest.mark.parametrize("kept", KEPT, ids=[p.stem for p in KEPT])
async def test_a_kept_backup_restores_into_todays_schema(kept: Path, database_url: str) -> None:
    engine = db_engine.create(database_url, pool_size=1)
    try:
        with kept.open("rb") as file:
            staged = await staging.stage(engine, streams.FileSource(file), lambda: kept.name, "cli:test")
        await apply.apply(engine, uuid.UUID(staged["id"]), "overwrite", admin.Actor("cli:test"))
    finally:
        await engine.dispose()
    revision = kept.stem.removeprefix("backup-")
    with psycopg.connect(database_url) as conn:
        chats = conn.execute("SELECT title, owner, profile, parent_session_id IS NOT NULL, parent_call_id, depth FROM chat_sessions ORDER BY depth")
        top = ("Lighthouse", None, "assistant" if revision >= AGENTS_FROM else None, False, None, 0)
        assert chats.fetchall() == ([top, ("Ship count", None, "researcher", True, "m1g1s1c0", 1)] if revision >= AGENTS_FROM else [top])
        profiles = [row[0] for row in conn.execute("SELECT name FROM agent_profiles ORDER BY name")]
        assert profiles == (["assistant", "coder", "keeper", "researcher"] if revision >= AGENTS_FROM else ["assistant", "coder", "researcher"])
        tasks = conn.execute("SELECT name, profile, paused, webhook_secret, (SELECT count(*) FROM task_runs) FROM scheduled_tasks").fetchall()
        assert tasks == ([("Nightly log", "keeper", True, TASK["webhook_secret"], 1)] if revision >= AGENTS_FROM else [])  # its owner is not here
        messages = conn.execute("SELECT role, content FROM messages ORDER BY id").fetchall()
        assert messages == [("user", "What does the keeper log?"), ("assistant", "Every ship that passes.")]
        memories = conn.execute("SELECT content FROM memories ORDER BY id").fetchall()
        assert memories == [("The keeper is called Ada.",), ("The lamp is lit at dusk.",)]
        document = conn.execute("SELECT filename, state, chunk_count FROM knowledge_documents").fetchall()
        assert document == [("keeper-log.txt", "ready", 2)]
        pieces = conn.execute("SELECT data FROM knowledge_blob_pieces ORDER BY ordinal").fetchall()
        assert b"".join(p[0] for p in pieces) == FILE_BYTES
        settings = conn.execute("SELECT data->>'system_prompt' FROM agent_settings").fetchone()[0]
        assert settings == "You keep the lighthouse log."
        files = dict(conn.execute("SELECT path, data FROM workspace_files").fetchall())
        assert files == (WORKSPACE if revision >= WORKSPACES_FROM else {})
        # Every vector it brought was made by another embedder (fp32 before 0016; the fixture's test model since): re-embedded.
        made_by = conn.execute("SELECT DISTINCT embedding_model, embedding_runtime FROM memories UNION SELECT DISTINCT embedding_model, embedding_runtime FROM knowledge_chunks")
        assert made_by.fetchall() == [("test-model", "fp32" if revision < EMBEDDER_FROM else "test-runtime")]
        assert conn.execute("SELECT done, total, finished_at FROM reembedding").fetchall() == [(0, 4, None)]
        jobs = conn.execute("SELECT task_name, status::text FROM procrastinate_jobs WHERE queue_name = %s", (reembed.QUEUE_NAME,))
        assert jobs.fetchall() == [(reembed.TASK_NAME, "todo")]
