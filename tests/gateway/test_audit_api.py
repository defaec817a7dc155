"""GET /v1/audit: pages that together return every entry once, filtered by action and actor."""

from __future__ import annotations

from pathlib import Path

import pytest

from soma.audit import actions
from soma.audit import log as audit


async def _write(gateway, count: int, actor: str, action: str = "settings.updated") -> None:
    async with gateway.state.engine.begin() as conn:
        for n in range(count):
            await audit.record(conn, action, actor, f"{actor}#{n}")


async def _all_pages(api, **params) -> list[dict]:
    entries, before, pages = [], None, 0
    while True:
        query = {**params, **({"before": before} if before is not None else {})}
        answer = (await api.get("/v1/audit", params=query)).json()
        entries += answer["entries"]
        pages += 1
        before = answer["next"]
        if before is None:
            return entries
        assert pages < 100, "paging does not end"


async def test_pages_together_return_every_entry_once_newest_first(api, gateway) -> None:
    await _write(gateway, 23, "cli:ann@host")
    await _write(gateway, 4, "cli:bob@host", "slm.key.rotated")
    everything = (await api.get("/v1/audit", params={"limit": 1000})).json()
    assert everything["next"] is None

    paged = await _all_pages(api, limit=5)
    assert [e["id"] for e in paged] == [e["id"] for e in everything["entries"]]
    assert [e["id"] for e in paged] == sorted({e["id"] for e in paged}, reverse=True)

    ann = await _all_pages(api, limit=4, actor="cli:ann@host")
    assert [e["target"] for e in ann] == [f"cli:ann@host#{n}" for n in range(22, -1, -1)]
    bob = await _all_pages(api, limit=4, actor="cli:bob@host", action="slm.key.rotated")
    assert len(bob) == 4 and (await api.get("/v1/audit", params={"limit": 4, "actor": "cli:bob@host"})).json()["next"] is None


async def test_a_cursor_out_of_range_is_a_clear_422(api) -> None:
    for before in ("0", str(2**63), "soon"):
        answer = await api.get("/v1/audit", params={"before": before})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request", answer.text


SECURITY_DOC = Path(__file__).parent.parent.parent / "docs" / "security.md"


async def test_only_a_catalogued_action_is_recorded_and_every_one_is_documented(gateway) -> None:
    async with gateway.state.engine.begin() as conn:
        with pytest.raises(ValueError, match="'settings.renamed' is not in soma.audit.actions.ACTIONS"):
            await audit.record(conn, "settings.renamed", "cli:ann@host")
    table = SECURITY_DOC.read_text().split("## The audit log", 1)[1].split("\n## ", 1)[0]
    assert [action for action in actions.ACTIONS if f"`{action}`" not in table] == []
