"""Databases restored into by bench/backup.py: made fresh on the benchmark's server, counted, dropped."""

from __future__ import annotations

import urllib.parse

import psycopg

from soma.db import migrate

# What a restore must bring back, each counted with one cheap query. The blobs' bytes are summed
# with octet_length, which reads a TOASTed value's size from its pointer without fetching it.
CONTENTS = {
    "sessions": "SELECT count(*) FROM chat_sessions",
    "messages": "SELECT count(*) FROM messages",
    "events": "SELECT count(*) FROM session_events",
    "memories": "SELECT count(*) FROM memories",
    "documents": "SELECT count(*) FROM knowledge_documents",
    "chunks": "SELECT count(*) FROM knowledge_chunks",
    "blobs": "SELECT count(*) FROM knowledge_blobs",
    "blob bytes": "SELECT coalesce(sum(octet_length(data)), 0) FROM knowledge_blob_pieces",
}


def url_of(url: str, name: str) -> str:
    """url with its database replaced by name."""
    return urllib.parse.urlsplit(url)._replace(path="/" + name).geturl()


def fresh(url: str, name: str, migrated: bool) -> str:
    """A new, empty database `name` on url's server (one a killed run left is dropped first); its URL.

    migrated: with Soma's schema and nothing else, as `soma migrate` leaves a new installation.
    Ends with a CHECKPOINT, so the step measured next does not pay for writing out the migration.
    """
    drop(url, name)
    with psycopg.connect(url_of(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = url_of(url, name)
    if migrated:
        migrate.upgrade(target)
    _checkpoint(url)
    return target


def drop(url: str, name: str) -> None:
    """Drop database `name` if it exists, then CHECKPOINT, so the next step starts with no dirty pages."""
    with psycopg.connect(url_of(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _checkpoint(url)


def _checkpoint(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def contents(url: str) -> dict[str, int]:
    """How many rows of each kind the database holds, and its knowledge files' bytes."""
    with psycopg.connect(url) as conn:
        return {kind: conn.execute(query).fetchone()[0] for kind, query in CONTENTS.items()}  # type: ignore[index]


def compare(source: dict[str, int], url: str) -> str:
    """One line: whether the database at url holds what source holds; starts with `MISMATCH` when not."""
    found = contents(url)
    differ = [f"{kind} {found[kind]} (source {n})" for kind, n in source.items() if found[kind] != n]
    if differ:
        return "MISMATCH: " + ", ".join(differ)
    return "same as the source: " + ", ".join(f"{n} {kind}" for kind, n in found.items())
