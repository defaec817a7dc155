"""Rotating the SLM key in Vault: check the new key against the SLM, write it as a new version, audit it."""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass

from soma import config, errors
from soma.audit import log as audit
from soma.db import engine as db_engine
from soma.db import location
from soma.secrets import sources, vault
from soma.slm import client as slm

MAX_KEY_CHARS = 4096


@dataclass(frozen=True)
class Request:
    """What the operator asked for."""

    key: str
    reason: str
    ticket: str | None = None
    actor: str = ""


@dataclass(frozen=True)
class Result:
    """What was written."""

    location: str
    version: int
    previous: int | None


def parse_key(text: str) -> str:
    """The key from the operator's input: one line, surrounding whitespace dropped; BadKeyInput otherwise."""
    key = text.strip()
    if not key:
        raise errors.BadKeyInput("The input is empty.")
    if len(key) > MAX_KEY_CHARS:
        raise errors.BadKeyInput(f"The input is {len(key)} characters, more than {MAX_KEY_CHARS}.")
    if any(c.isspace() for c in key):
        raise errors.BadKeyInput("The input has whitespace or several lines inside the key.")
    return key


async def rotate(settings: config.Settings, request: Request) -> Result:
    """Check, then write with check-and-set, then audit; nothing is written if the SLM refuses the new key."""
    source = sources.VaultSource(settings)
    if not source.configured():
        raise errors.RotationNeedsVault()
    # The database first: a rotation must not go unaudited, so Vault is not touched unless the audit log can take it.
    database = await asyncio.to_thread(location.open_migrated, settings)
    engine = db_engine.create(database.url, pool_size=1)
    try:
        client = source.client()
        current = vault.read(client, source.where)
        await _check(settings, request.key)
        previous = current.version if current else None
        version = vault.write(client, source.where, request.key, previous, _metadata(request))
        async with engine.begin() as conn:
            details = {"version": version, "previous_version": previous, "reason": request.reason,
                       "ticket": request.ticket, "vault_addr": settings.vault_addr}  # fmt: skip
            await audit.record(conn, "slm.key.rotated", request.actor, str(source.where), details)
    finally:
        await engine.dispose()
        database.stop()
    return Result(str(source.where), version, previous)


async def _check(settings: config.Settings, key: str) -> None:
    model = slm.SLMClient(slm.SLMConfig.from_settings(settings), slm.FixedKey(key, label="the new key"))
    try:
        await model.check()
    except errors.SLMAuthFailed as exc:
        raise errors.NewKeyRejected(f"The SLM at {settings.slm_base_url} refused the new key.") from exc
    except errors.SLMError as exc:
        raise errors.NewKeyRejected(f"The new key could not be checked: {exc.message}") from exc
    finally:
        await model.aclose()


def _metadata(request: Request) -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = {"rotated_at": now, "rotated_by": request.actor, "reason": request.reason}
    if request.ticket:
        metadata["ticket"] = request.ticket
    return metadata
