"""Keeps a process's copy of a secret (the SLM key, the tunnel token) current: re-read every SOMA_SECRET_RELOAD_SECONDS and on demand after a 401."""

from __future__ import annotations

import asyncio
import logging
import time

from soma import config, errors
from soma.secrets import sources
from soma.secrets.sources import Reading

log = logging.getLogger(__name__)


class SecretWatcher:
    """A secret as its source says now. Reads run in a thread: hvac is synchronous."""

    def __init__(self, settings: config.Settings, source: sources.Source | None = None, what: str = "SLM key") -> None:
        self.source = source or sources.chosen(sources.for_slm_key(settings))
        self.what = what  # for log lines: "SLM key", "tunnel token"
        self.interval = settings.secret_reload_seconds
        self._current: Reading | None = None
        self._lock = asyncio.Lock()
        self.stale_since: float | None = None  # monotonic time the source first failed to answer

    def load(self) -> Reading:
        """The first read, at start: an unreachable Vault stops the process here with an error naming SOMA_VAULT_ADDR."""
        self._current = self._read()
        log.info("%s: %s", self.what, _describe(self._current))
        return self._current

    def current(self) -> Reading:
        """The last good read."""
        assert self._current is not None, "load() first"
        return self._current

    async def reread(self) -> Reading:
        """Read again now (e.g. after the SLM said 401); a source that does not answer keeps the last good read."""
        async with self._lock:
            try:
                fresh = await asyncio.to_thread(self._read)
            except errors.SomaError as exc:
                if self.stale_since is None:
                    self.stale_since = time.monotonic()
                    log.warning("%s: cannot re-read, keeping %s: %s", self.what, self.current().label, exc.message)
                return self.current()
            if self.stale_since is not None:
                log.info("%s: %s answers again", self.what, self.source.name)
                self.stale_since = None
            if (fresh.value, fresh.version, fresh.missing) != (self._current.value, self._current.version, self._current.missing):
                log.warning("%s changed: %s", self.what, _describe(fresh))
            self._current = fresh
            return fresh

    async def run(self) -> None:
        """Re-read forever, every interval."""
        while True:
            await asyncio.sleep(self.interval)
            await self.reread()

    def _read(self) -> Reading:
        return self.source.read()


def _describe(reading: Reading) -> str:
    if reading.value is None:
        return f"MISSING from {reading.origin}: {reading.missing}"
    return f"from {reading.label}"
