"""Settings → Tools in a real headless Chromium, against a real gateway process and real MCP servers.

The page is checked against what GET /v1/tools answers, servers imported through its JSON box
are the SDK-written scripted server (which the gateway connects to before it answers) and a
command that does not exist, and every change is read back through the API.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tests.acceptance.browser import (  # noqa: F401
    ADMIN_PASSWORD,
    browser,
    console,
    create_user,
    expect,
    log_in,
    new_page,
    open_page,
    page,
    sync_api,
)

SCRIPTED = Path(__file__).resolve().parents[1] / "mcp_servers" / "scripted.py"
STATE_LABELS = {"connected": "Connected", "failed": "Failed", "disabled": "Disabled"}
PHONE = {"width": 390, "height": 844}


def listed(stack) -> dict:
    response = stack.client.get(stack.url + "/v1/tools")
    assert response.status_code == 200, response.text
    return response.json()


def server_block(page: sync_api.Page, name: str) -> sync_api.Locator:
    return page.locator(f'[data-testid="tool-server"][data-server="{name}"]')


def tool_item(page: sync_api.Page, server: str, name: str) -> sync_api.Locator:
    return page.locator(f'[data-testid="tool"][data-server="{server}"][data-tool="{name}"]')


def open_tools(page: sync_api.Page, url: str) -> None:
    open_page(page, url, "settings")
    page.get_by_test_id("settings-tab-tools").click()
    expect(page).to_have_url(re.compile(r"#/settings/tools$"))
    expect(page.get_by_test_id("settings-tab-tools")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("settings-tools")).to_be_visible()
    expect(page.get_by_test_id("tool-servers")).not_to_have_attribute("aria-busy", "true")


def expect_as_listed(page: sync_api.Page, catalogue: dict) -> None:
    """Every server with its transport, state and error, and every tool with its switches, as GET /v1/tools says."""
    for server in catalogue["servers"]:
        block = server_block(page, server["name"])
        expect(block.get_by_test_id("tool-server-state")).to_have_text(STATE_LABELS[server["state"]])
        expect(block.get_by_test_id("tool-server-transport")).to_have_text(server["transport"])
        if server["error"]:
            expect(block.get_by_test_id("tool-server-error")).to_have_text(server["error"])
        else:
            expect(block.get_by_test_id("tool-server-error")).to_have_count(0)
    for tool in catalogue["tools"]:
        item = tool_item(page, tool["server"], tool["name"])
        expect(item.get_by_test_id("tool-name")).to_have_text(tool["name"])
        if tool["enabled"]:
            expect(item.get_by_test_id("tool-enabled")).to_be_checked()
        else:
            expect(item.get_by_test_id("tool-enabled")).not_to_be_checked()
        expect(item.get_by_test_id("tool-approval")).to_have_value(tool["approval"])


def test_the_tools_tab_lists_imports_switches_and_removes_as_the_api_says(stack, page, console) -> None:
    console.allow_http_errors(422)
    open_tools(page, stack.url)
    card = page.get_by_test_id("settings-tools")
    before = listed(stack)
    assert before["servers"] == []
    expect(server_block(page, "soma").get_by_test_id("tool-server-name")).to_have_text("Built-in")
    expect(server_block(page, "soma").get_by_test_id("tool-name")).to_have_text([t["name"] for t in before["tools"]])
    expect(card.get_by_test_id("tool-servers-empty")).to_have_text("No MCP server is configured.")
    expect_as_listed(page, before)
    [run_code] = [t for t in before["tools"] if t["name"] == "run_code"]  # no worker has checked a sandbox here
    expect(server_block(page, "soma").get_by_test_id("tool-unavailable")).to_have_text(f"Not offered now: {run_code['reason']}")

    document = json.dumps({"mcpServers": {"scripted": {"command": sys.executable, "args": [str(SCRIPTED)]}, "gone": {"command": "/nonexistent/mcp-server"}}})
    page.get_by_test_id("tools-import").fill(document)
    with page.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/v1/tools/servers")) as request:
        page.get_by_test_id("tools-import-submit").click()
    assert request.value.post_data == document  # sent as typed: the server judges it
    expect(page.get_by_test_id("tools-import-status")).to_have_text("Imported.")
    expect(page.get_by_test_id("tools-import")).to_have_value("")
    imported = listed(stack)
    assert {s["name"]: s["state"] for s in imported["servers"]} == {"gone": "failed", "scripted": "connected"}
    expect(server_block(page, "scripted").get_by_test_id("tool-name")).to_have_text([t["name"] for t in imported["tools"] if t["server"] == "scripted"])
    expect(server_block(page, "gone").get_by_test_id("tool-server-error")).not_to_be_empty()
    expect_as_listed(page, imported)
    page.screenshot(path="/tmp/soma-settings-tools.png", full_page=True)

    append = tool_item(page, "scripted", "append")
    with page.expect_request(lambda r: r.method == "PATCH") as request:
        append.get_by_test_id("tool-approval").select_option("ask")
    assert request.value.url == f"{stack.url}/v1/tools/scripted/append"
    assert request.value.post_data_json == {"enabled": True, "approval": "ask"}
    expect(card.get_by_test_id("tools-status")).to_have_text("Saved append.")
    with page.expect_request(lambda r: r.method == "PATCH") as request:
        tool_item(page, "soma", "forget").get_by_test_id("tool-enabled").uncheck()
    assert request.value.url == f"{stack.url}/v1/tools/soma/forget"
    assert request.value.post_data_json == {"enabled": False, "approval": "auto"}
    expect(card.get_by_test_id("tools-status")).to_have_text("Saved forget.")
    switched = listed(stack)
    chosen = {(t["server"], t["name"]): (t["enabled"], t["approval"]) for t in switched["tools"]}
    assert chosen[("scripted", "append")] == (True, "ask") and chosen[("soma", "forget")] == (False, "auto")

    page.reload()
    expect(page.get_by_test_id("tool-servers")).not_to_have_attribute("aria-busy", "true")
    expect_as_listed(page, switched)

    bad = '{"mcpServers": {"scripted": {"url": "ftp://example.com/mcp"}}'  # a brace short
    refused = stack.client.put(stack.url + "/v1/tools/servers", content=bad, headers={"Content-Type": "application/json"})
    assert refused.status_code == 422
    page.get_by_test_id("tools-import").fill(bad)
    page.get_by_test_id("tools-import-submit").click()
    expect(page.get_by_test_id("tools-import-error-message")).to_have_text(refused.json()["error"]["message"])
    expect(page.get_by_test_id("tools-import")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("tools-import")).to_be_focused()
    assert listed(stack) == switched  # refused: nothing changed

    page.get_by_test_id("tools-import-load").click()
    expect(page.get_by_test_id("tools-import")).not_to_have_attribute("aria-invalid", "true")  # set with the loaded text
    loaded = json.loads(page.get_by_test_id("tools-import").input_value())
    assert loaded == stack.client.get(stack.url + "/v1/tools/servers").json()
    assert set(loaded["mcpServers"]) == {"gone", "scripted"}

    server_block(page, "gone").get_by_test_id("tool-server-remove").click()
    with page.expect_request(lambda r: r.method == "DELETE") as request:
        server_block(page, "gone").get_by_test_id("tool-server-remove-confirm").click()
    assert request.value.url == f"{stack.url}/v1/tools/servers/gone"
    expect(server_block(page, "gone")).to_have_count(0)
    expect(page.locator("#tools-title")).to_be_focused()
    assert [s["name"] for s in listed(stack)["servers"]] == ["scripted"]

    page.set_viewport_size(PHONE)
    expect(tool_item(page, "scripted", "append").get_by_test_id("tool-approval")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path="/tmp/soma-settings-tools-phone.png", full_page=True)


def test_a_member_reads_the_tools_tab_without_controls(stack, new_page) -> None:
    create_user(stack, "ann", ADMIN_PASSWORD, "member")
    member = new_page()
    log_in(member, stack.url, "ann", ADMIN_PASSWORD)
    open_tools(member, stack.url)

    catalogue = listed(stack)
    expect_as_listed(member, catalogue)
    for tool in catalogue["tools"]:
        item = tool_item(member, tool["server"], tool["name"])
        expect(item.get_by_test_id("tool-enabled")).to_be_disabled()
        expect(item.get_by_test_id("tool-approval")).to_be_disabled()
    expect(member.get_by_test_id("tools-read-only")).to_have_text("Only admins can change tools and servers.")
    expect(member.get_by_test_id("tools-import-form")).to_have_count(0)
    expect(member.get_by_test_id("tool-server-remove")).to_have_count(0)


def test_the_general_tab_holds_the_tool_settings_with_the_servers_values(stack, page) -> None:
    settings = stack.client.get(stack.url + "/v1/settings").json()["settings"]
    open_page(page, stack.url, "settings")
    expect(page.get_by_test_id("settings-tab-general")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("setting-max_tool_steps")).to_have_value(str(settings["max_tool_steps"]))
    expect(page.get_by_test_id("setting-tool_approval_timeout_seconds")).to_have_value(str(settings["tool_approval_timeout_seconds"]))
    tool_call_format = page.get_by_test_id("setting-tool_call_format")
    expect(tool_call_format).to_have_value(settings["tool_call_format"])
    expect(tool_call_format.locator("option")).to_have_text(["Native tool calls", "JSON in the answer's text", "Off"])

    tool_call_format.select_option("json")
    with page.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/v1/settings")) as request:
        page.get_by_test_id("settings-save").click()
    assert request.value.post_data_json == {"tool_call_format": "json"}
    expect(page.get_by_test_id("settings-status")).to_have_text("Saved.")
    assert stack.client.get(stack.url + "/v1/settings").json()["settings"]["tool_call_format"] == "json"
