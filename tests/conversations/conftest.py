"""The `turns` fixture: messages answered by `turn.run` in this process, on the test's database and the scripted SLM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from soma import config
from tests import procs
from tests.conversations import harness


@pytest.fixture(autouse=True)
def _key_from_settings_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The SLM key is the test settings' own: no SOMA_SLM_API_KEY from the environment or a developer's .env."""
    monkeypatch.delenv("SOMA_SLM_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # the key watcher re-reads ./.env


@pytest.fixture
async def turns(database_url: str, slm: procs.ScriptedSLM, settings: config.Settings) -> AsyncIterator[harness.Turns]:
    """Turns with the worker's test settings (harness.WORKER_SETTINGS); call harness.turns for others."""
    async with harness.turns(database_url, slm, settings) as running:
        yield running
