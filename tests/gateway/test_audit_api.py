"""GET /v1/audit: pages that together return every entry once, filtered by action and actor."""

from __future__ import annotations

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
