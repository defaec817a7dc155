"""Tool servers and per-tool choices are agent configuration: backed up as references, restored with the settings."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.backup.conftest import TIDES, Installed, entries_of, make_archive
from tests.backup.make_fixture import FIXTURES
from tests.tools.servers import stdio_entry

SECRET = "tok-backup-9c1e5f7a3b2d"


async def upload_and_apply(api: httpx.AsyncClient, archive: bytes, mode: str) -> dict:
    staged = await api.post("/v1/restores", files={"file": ("nightly.tar", archive, "application/x-tar")})
    assert staged.status_code == 201, staged.text
    applied = await api.post(f"/v1/restores/{staged.json()['id']}/apply", json={"mode": mode})
    assert applied.status_code == 200, applied.text
    return staged.json()


async def choices_of(api: httpx.AsyncClient) -> dict[tuple[str, str], tuple[bool, str]]:
    tools = (await api.get("/v1/tools")).json()["tools"]
    return {(t["server"], t["name"]): (t["enabled"], t["approval"]) for t in tools if (t["enabled"], t["approval"]) != (True, "auto")}


async def test_a_backup_holds_the_tool_servers_references_and_never_their_values(
    installed: Installed, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRIPTED_BACKUP_TOKEN", SECRET)
    entry = stdio_entry(env={"SCRIPTED_TOKEN": "env:SCRIPTED_BACKUP_TOKEN"})
    probed = await api.put("/v1/tools/servers/scripted", json=entry)
    assert probed.json()["state"] == "connected"  # the value was read and handed to the server
    called = await api.patch("/v1/tools/scripted/append", json={"enabled": False})
    assert called.status_code == 200
    archive = await make_archive(installed.database_url)
    settings = json.loads(dict(entries_of(archive))["soma-backup/settings.json"])
    assert settings["tools"] == {
        "servers": [{"name": "scripted", "config": entry}, {"name": "tides", "config": TIDES}],
        "settings": [
            {"server": "scripted", "tool": "append", "enabled": False, "approval": "auto"},
            {"server": "soma", "tool": "forget", "enabled": True, "approval": "ask"},
        ],
    }
    assert SECRET.encode() not in archive
    assert b"tool_catalogue" not in archive and b"read_lines" not in archive  # what connecting found stays out


async def test_a_restore_in_overwrite_mode_replaces_the_tool_servers_and_preserve_settings_keeps_them(
    installed: Installed, api: httpx.AsyncClient
) -> None:
    archive = await make_archive(installed.database_url)
    assert (await api.delete("/v1/tools/servers/tides")).status_code == 204
    assert (await api.put("/v1/tools/servers/other", json={"command": "npx", "disabled": True})).status_code == 200
    assert (await api.patch("/v1/tools/soma/forget", json={"approval": "auto"})).status_code == 200
    assert (await api.patch("/v1/tools/soma/remember", json={"enabled": False})).status_code == 200
    changed = await choices_of(api)

    preview = await upload_and_apply(api, archive, "preserve_settings")
    assert {"key": "tool_servers", "current": ["other"], "backup": ["tides"]} in preview["settings_diff"]
    assert (await api.get("/v1/tools/servers")).json() == {"mcpServers": {"other": {"command": "npx", "disabled": True}}}
    assert await choices_of(api) == changed

    await upload_and_apply(api, archive, "overwrite")
    assert (await api.get("/v1/tools/servers")).json() == {"mcpServers": {"tides": TIDES}}
    assert await choices_of(api) == {("soma", "forget"): (True, "ask")}
    assert (await api.get("/v1/tools")).json()["servers"] == [{"name": "tides", "transport": "stdio", "state": "disabled", "error": None}]


async def test_a_backup_made_before_tool_servers_leaves_the_configured_ones_as_they_are(api: httpx.AsyncClient) -> None:
    assert (await api.put("/v1/tools/servers/kept", json={"command": "npx", "disabled": True})).status_code == 200
    preview = await upload_and_apply(api, (FIXTURES / "backup-0011.tar").read_bytes(), "overwrite")
    assert not any(diff["key"] == "tool_servers" for diff in preview["settings_diff"])
    assert (await api.get("/v1/tools/servers")).json() == {"mcpServers": {"kept": {"command": "npx", "disabled": True}}}


async def test_a_backup_whose_tool_servers_this_soma_refuses_is_not_staged(installed: Installed, api: httpx.AsyncClient) -> None:
    from tests.backup.conftest import build

    entries = entries_of(await make_archive(installed.database_url))
    settings = json.loads(dict(entries)["soma-backup/settings.json"])
    settings["tools"]["servers"] = [{"name": "evil", "config": {"command": "sh", "env": {"X": "env:SOMA_DATABASE_URL"}}}]
    tampered = build([(n, json.dumps(settings).encode() if n.endswith("settings.json") else d) for n, d in entries])
    refused = await api.post("/v1/restores", files={"file": ("nightly.tar", tampered, "application/x-tar")})
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "backup_data_invalid")
    assert refused.json()["error"]["message"].startswith(
        "soma-backup/settings.json holds tool servers this Soma refuses: Tool server 'evil': 'env.X': 'env:SOMA_DATABASE_URL' names one of Soma's own settings"
    )
