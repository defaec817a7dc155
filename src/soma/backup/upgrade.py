"""Carrying an older backup's records forward to this Soma's schema, so every backup ever made restores.

A backup records the schema revision it was made at. Every migration after FIRST_REVISION must say
what it does to what a backup holds: either it changes nothing there (UNCHANGED), or CHANGES maps
it to a function that rewrites one record of a kind ("manifest" for manifest.json, "settings" for
settings.json, else a table kind of format.TABLES) from the shape before it to the shape after. tests/backup/test_upgrade.py
fails for a migration that says neither, and restores the backup kept in tests/backup/fixtures/.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from soma.db import schema
from soma.embeddings.embedder import EARLIER_RUNTIME

Record = dict[str, Any]
Change = Callable[[str, Record], Record]

FIRST_REVISION = "0005"  # the schema the first backups were made at
UNCHANGED = frozenset({"0006", "0007", "0009", "0010", "0011", "0015"})  # restore staging (0006), tunnel and lockdown state (0007): no backup holds them; an index (0009); deltas of stored answers deleted, no record reshaped (0010); vector indexes rebuilt denser (0011); SSO identities, login methods, started logins (0015): users and sessions stay out of backups (backup/rows.py)


def _messages_have_versions(kind: str, value: Record) -> Record:
    """0008: messages gained `versions` (earlier versions of a regenerated or edited message); older ones had none."""
    return {**value, "versions": []} if kind == "messages" else value


def _settings_predate_tools(kind: str, value: Record) -> Record:
    """0012: settings.json gained `tools` (the tool servers and choices); an older backup has none to restore (None)."""
    return {**value, "tools": None} if kind == "settings" else value


def _manifest_counts_files(kind: str, value: Record) -> Record:
    """0013: the manifest counts chats' files (`files`, `file_blobs`); a backup made before workspaces holds none."""
    if kind != "manifest" or not isinstance(value.get("counts"), dict):
        return value
    return {**value, "counts": {**value["counts"], "files": 0, "file_blobs": 0}}


def _before_profiles_and_tasks(kind: str, value: Record) -> Record:
    """0014: chats gained a profile and a place in a tree of delegated chats; settings.json the agent profiles; the manifest
    counts scheduled tasks and their runs.

    An older chat has no profile (its turns run on the settings alone) and is a top chat; `"profiles": None` keeps this
    installation's profiles, as `"tools": None` keeps its tool servers; an older backup holds no tasks.
    """
    if kind == "sessions":
        return {**value, "profile": None, "parent_session_id": None, "parent_call_id": None, "depth": 0}
    if kind == "settings":
        return {**value, "profiles": None}
    if kind == "manifest" and isinstance(value.get("counts"), dict):
        return {**value, "counts": {**value["counts"], "tasks": 0, "task_runs": 0}}
    return value


def _vectors_name_their_embedder(kind: str, value: Record) -> Record:
    """0016: a vector's row names the runtime beside the model, and the manifest names the embedder (`embedder`: model and runtime).

    Every vector made before was the full-precision model's (EARLIER_RUNTIME), so a restore of such a backup
    re-embeds what it brings (soma.embeddings.reembed): the identity differs from this Soma's embedder's.
    """
    if kind in ("memories", "chunks"):
        return {**value, "embedding_runtime": EARLIER_RUNTIME}
    if kind == "manifest" and "embedding_model" in value:
        rest = {k: v for k, v in value.items() if k != "embedding_model"}
        return {**rest, "embedder": {"model": value["embedding_model"], "runtime": EARLIER_RUNTIME}}
    return value


CHANGES: dict[str, Change] = {
    "0008": _messages_have_versions, "0012": _settings_predate_tools, "0013": _manifest_counts_files, "0014": _before_profiles_and_tasks,
    "0016": _vectors_name_their_embedder,
}  # fmt: skip


@functools.cache
def later_revisions(revision: str) -> tuple[str, ...]:
    """The migrations after revision up to this Soma's head, oldest first."""
    later = schema.lineage(schema.head())
    return tuple(reversed(later[: later.index(revision)]))


@functools.cache
def steps(revision: str) -> tuple[Change, ...]:
    """The record changes that carry a backup made at revision to this Soma's schema, in order."""
    return tuple(CHANGES[r] for r in later_revisions(revision) if r in CHANGES)


def record(changes: tuple[Change, ...], kind: str) -> Callable[[Record], Record] | None:
    """One function applying every change to a record of kind; None when there is nothing to change."""
    if not changes:
        return None

    def upgraded(value: Record) -> Record:
        for change in changes:
            value = change(kind, value)
        return value

    return upgraded


def restorable(revisions: frozenset[str]) -> frozenset[str]:
    """Of all known revisions, those a backup can have been made at: FIRST_REVISION and later."""
    return frozenset(r for r in revisions if r == FIRST_REVISION or FIRST_REVISION in _earlier(r))


@functools.cache
def _earlier(revision: str) -> frozenset[str]:
    return frozenset(schema.lineage(revision))
