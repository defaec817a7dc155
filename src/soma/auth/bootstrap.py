"""What a gateway ensures at start: the automation admin key, if one is configured."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from soma import config, errors
from soma.audit import log as audit
from soma.auth import keys

log = logging.getLogger(__name__)
NAME = "bootstrap admin (SOMA_BOOTSTRAP_ADMIN_KEY)"
MIN_CHARS = 32  # a key chosen by automation must still be unguessable


def configured_key(settings: config.Settings) -> str | None:
    """SOMA_BOOTSTRAP_ADMIN_KEY_FILE's content, or SOMA_BOOTSTRAP_ADMIN_KEY; BootstrapKeyInvalid when unreadable or too short.

    The one place the key is read and judged: the gateway's start and every provisioning go through it.
    """
    path, value = settings.bootstrap_admin_key_file, settings.bootstrap_admin_key
    if path:
        try:
            raw = path.read_text()
        except OSError as exc:
            raise errors.BootstrapKeyInvalid(f"Cannot read SOMA_BOOTSTRAP_ADMIN_KEY_FILE {path} ({exc.strerror}).") from exc
        where = f"SOMA_BOOTSTRAP_ADMIN_KEY_FILE {path}"
    else:
        raw, where = value.get_secret_value() if value else "", "SOMA_BOOTSTRAP_ADMIN_KEY"
    key = raw.strip() or None
    if key is not None and len(key) < MIN_CHARS:
        raise errors.BootstrapKeyInvalid(f"{where} holds {len(key)} characters; the key needs at least {MIN_CHARS}.")
    return key


def check(settings: config.Settings) -> None:
    """Fail at start, naming the setting, when the configured key is unreadable or too short."""
    configured_key(settings)


async def provision_when_possible(engine: AsyncEngine, settings: config.Settings, retry_seconds: float = 2.0) -> None:
    """`provision`, retried while PostgreSQL is unavailable: a gateway may start before its database."""
    while True:
        try:
            await provision(engine, settings)
            return
        except errors.SomaError:
            raise
        except Exception as exc:  # the database is not there yet
            log.warning("cannot provision the bootstrap admin key yet (%s); retrying", type(exc).__name__)
            await asyncio.sleep(retry_seconds)


async def provision(engine: AsyncEngine, settings: config.Settings) -> None:
    """Add the bootstrap key unless it exists; a revoked one stays revoked (revoke --all must stick)."""
    key = configured_key(settings)
    if not key:
        return
    async with engine.begin() as conn:
        if await keys.provision(conn, key, NAME):
            await audit.record(conn, "key.created", "bootstrap", NAME, {"scopes": ["admin"]})
            log.info("provisioned the bootstrap admin key from %s", "SOMA_BOOTSTRAP_ADMIN_KEY_FILE" if settings.bootstrap_admin_key_file else "SOMA_BOOTSTRAP_ADMIN_KEY")
