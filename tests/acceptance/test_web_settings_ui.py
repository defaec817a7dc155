"""The Settings page in a real headless Chromium, against a real gateway process."""

from __future__ import annotations

import re
from pathlib import Path

from soma.settings import store
from tests.acceptance.browser import browser, console, expect, open_page, page  # noqa: F401

SCREENSHOT = Path("/tmp/soma-settings.png")
PROMPT = "You are Soma. Answer in one short paragraph,\nand name your sources."



def settings(stack) -> dict:
    response = stack.client.get(stack.url + "/v1/settings")
    assert response.status_code == 200, response.text
    return response.json()


def test_settings_changed_in_the_page_are_saved_and_survive_a_reload(stack, page) -> None:
    before = settings(stack)
    open_page(page, stack.url, "settings")
    prompt = page.get_by_test_id("setting-system_prompt")
    recall_k = page.get_by_test_id("setting-memory_recall_k")
    temperature = page.get_by_test_id("setting-temperature")
    save = page.get_by_test_id("settings-save")
    expect(prompt).to_have_value(store.DEFAULT_SYSTEM_PROMPT)
    expect(recall_k).to_have_value("5")
    expect(temperature).to_have_value("")  # empty: the model's default
    expect(page.get_by_test_id("setting-upload_max_bytes-note")).to_have_text("= 20 MiB")
    expect(page.get_by_test_id("settings-version")).to_have_text(f"Version {before['version']}")
    expect(save).to_be_disabled()
    expect(page.get_by_test_id("settings-backup")).to_contain_text("Download or restore Soma's chats, memory, knowledge files and settings.")

    prompt.fill(PROMPT)
    recall_k.fill("12")
    temperature.fill("0.7")
    expect(page.get_by_test_id("settings-status")).to_have_text("3 unsaved changes")
    with page.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/v1/settings")) as request:
        save.click()
    assert request.value.post_data_json == {"system_prompt": PROMPT, "memory_recall_k": 12, "temperature": 0.7}  # only what changed
    expect(page.get_by_test_id("settings-status")).to_have_text("Saved.")
    expect(page.get_by_test_id("settings-version")).to_have_text(f"Version {before['version'] + 1}")
    expect(save).to_be_disabled()
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    after = settings(stack)
    assert after["settings"] == {**before["settings"], "system_prompt": PROMPT, "memory_recall_k": 12, "temperature": 0.7}

    page.reload()
    expect(prompt).to_have_value(PROMPT)
    expect(recall_k).to_have_value("12")
    expect(temperature).to_have_value("0.7")

    temperature.fill("")  # back to the default: sent as null
    page.get_by_test_id("setting-tools_enabled").uncheck()
    save.click()
    expect(page.get_by_test_id("settings-status")).to_have_text("Saved.")
    expect(page.get_by_test_id("settings-version")).to_have_text(f"Version {before['version'] + 2}")
    assert settings(stack)["settings"] == {**after["settings"], "temperature": None, "tools_enabled": False}


def test_a_bad_setting_shows_the_servers_message_and_changes_nothing(stack, page, console) -> None:
    console.allow_http_errors(422)
    before = settings(stack)
    open_page(page, stack.url, "settings")
    recall_k = page.get_by_test_id("setting-memory_recall_k")
    expect(recall_k).to_have_value("5")

    page.get_by_test_id("setting-system_prompt").fill("Be brief.")
    recall_k.fill("80")  # the limit is 50
    page.get_by_test_id("settings-save").click()

    # Said under the field it names, which is outlined and described by it; no banner besides.
    expect(page.get_by_test_id("setting-memory_recall_k-error")).to_have_text(
        "'memory_recall_k': Input should be less than or equal to 50 (got 80). "
        "The settings were not changed. Send only known keys with valid values; GET /v1/settings shows them all."
    )
    expect(page.get_by_test_id("settings-error")).to_be_hidden()
    expect(recall_k).to_have_attribute("aria-invalid", "true")
    expect(recall_k).to_be_focused()
    expect(recall_k).to_have_value("80")  # kept, to be corrected
    expect(page.get_by_test_id("settings-status")).to_have_text("2 unsaved changes")
    page.screenshot(path="/tmp/soma-settings-error.png")
    assert settings(stack) == before

    page.reload()
    expect(recall_k).to_have_value("5")
    expect(page.get_by_test_id("setting-system_prompt")).to_have_value(store.DEFAULT_SYSTEM_PROMPT)


def test_the_code_settings_are_explained_saved_and_refused_in_the_servers_words_on_a_phone(stack, page, console) -> None:
    console.allow_http_errors(422)
    page.set_viewport_size({"width": 390, "height": 844})
    before = settings(stack)
    open_page(page, stack.url, "settings")
    section = page.locator('section[aria-labelledby="settings-code"]')
    expect(section.get_by_role("heading")).to_have_text("Code")
    execution, network = page.get_by_test_id("setting-code_execution"), page.get_by_test_id("setting-sandbox_network")
    timeout, memory, workspace = (page.get_by_test_id(f"setting-{key}") for key in ("sandbox_timeout_seconds", "sandbox_memory_mb", "workspace_max_mb"))
    expect(execution).to_have_value("on")
    expect(execution.locator("option")).to_have_text(["On", "Off"])
    expect(network).to_have_value("none")
    expect(network.locator("option")).to_have_text(["None", "Outside network (egress)"])
    expect(timeout).to_have_value("60")
    expect(page.get_by_test_id("setting-sandbox_timeout_seconds-note")).to_have_text("= 1 min")
    expect(memory).to_have_value("512")
    expect(page.get_by_test_id("setting-sandbox_memory_mb-note")).to_have_text("= 512 MiB")
    expect(workspace).to_have_value("100")
    expect(page.get_by_test_id("setting-workspace_max_mb-note")).to_have_text("= 100 MiB")
    expect(execution).to_have_accessible_description(re.compile(r"^Let the agent run Python and shell code \(the run_code tool\)"))
    expect(timeout).to_have_accessible_description("A run still going after this long is stopped (1 to 3600).")
    expect(memory).to_have_accessible_description("The most memory one run may use (64 to 16384).")
    expect(workspace).to_have_accessible_description("The most one chat's files may hold together, attachments and what its code writes (1 to 512).")
    section.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path="/tmp/soma-settings-code-phone.png")

    execution.select_option("off")
    network.select_option("egress")
    timeout.fill("5")
    memory.fill("2048")
    expect(page.get_by_test_id("setting-sandbox_memory_mb-note")).to_have_text("= 2 GiB")
    workspace.fill("20000")  # the limit is 512
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("setting-workspace_max_mb-error")).to_contain_text("'workspace_max_mb': Input should be less than or equal to 512 (got 20000).")
    expect(workspace).to_have_attribute("aria-invalid", "true")
    assert settings(stack) == before

    workspace.fill("250")
    with page.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/v1/settings")) as request:
        page.get_by_test_id("settings-save").click()
    changes = {"code_execution": "off", "sandbox_network": "egress", "sandbox_timeout_seconds": 5, "sandbox_memory_mb": 2048, "workspace_max_mb": 250}
    assert request.value.post_data_json == changes
    expect(page.get_by_test_id("settings-status")).to_have_text("Saved.")
    assert settings(stack)["settings"] == {**before["settings"], **changes}
    page.reload()
    expect(execution).to_have_value("off")
    expect(network).to_have_value("egress")
    expect(workspace).to_have_value("250")
