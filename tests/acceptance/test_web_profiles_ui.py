"""Agent profiles in a real headless Chromium, against a real gateway process: Settings → Profiles and a chat's profile.

An admin creates, edits and deletes a profile on the Profiles tab; what the page sent is read back
through the API, and the server's refusals (a bad name, a profile a task still uses) show on the
page in its own words; a member then sees the same list without the controls. A chat made with the
researcher profile names it in its header, and says "(deleted)" once that profile is gone.
"""

from __future__ import annotations

import re

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

PHONE = {"width": 390, "height": 844}
TRANSLATOR = {
    "name": "translator",
    "description": "Translates between English and French.",
    "system_prompt": "Translate faithfully; keep the formatting.",
    "model": None,
    "tools": ["delegate", "search_memory"],
    "max_tool_steps": 3,
}


def open_profiles(page: sync_api.Page, url: str) -> None:
    open_page(page, url, "settings")
    page.get_by_test_id("settings-tab-profiles").click()
    expect(page).to_have_url(re.compile(r"#/settings/profiles$"))
    expect(page.get_by_test_id("settings-profiles")).to_be_visible()
    expect(page.get_by_test_id("profiles-list")).not_to_have_attribute("aria-busy", "true")


def row(page: sync_api.Page, name: str) -> sync_api.Locator:
    return page.locator(f'[data-testid="profile-row"][data-profile="{name}"]')


def profile_names(stack) -> list[str]:
    return [p["name"] for p in stack.client.get(stack.url + "/v1/profiles").json()["profiles"]]


def save_form(page: sync_api.Page, method: str) -> sync_api.Response:
    with page.expect_response(lambda r: r.request.method == method and "/v1/profiles" in r.url) as response:
        page.get_by_test_id("profile-form-save").click()
    return response.value


def test_an_admin_creates_edits_and_deletes_a_profile_seeing_the_servers_refusals_and_a_member_only_reads_them(stack, page, new_page, console) -> None:
    console.allow_http_errors(422, 409)
    open_profiles(page, stack.url)
    expect(page.get_by_test_id("profile-name")).to_have_text(profile_names(stack))  # the three shipped, by name
    expect(row(page, "researcher").get_by_test_id("profile-tools")).to_have_text("Tools: search_knowledge, search_memory")
    expect(row(page, "assistant").get_by_test_id("profile-tools")).to_have_text("Tools: Every tool")

    # A name the server refuses: its words show by the form, and the field is outlined.
    page.get_by_test_id("profile-new").click()
    page.get_by_test_id("profile-form-name").fill("Not A Name")
    response = save_form(page, "POST")
    assert response.status == 422
    expect(page.get_by_test_id("profile-form-error-message")).to_have_text(response.json()["error"]["message"])
    expect(page.get_by_test_id("profile-form-name")).to_have_attribute("aria-invalid", "true")

    page.get_by_test_id("profile-form-name").fill(TRANSLATOR["name"])
    page.get_by_test_id("profile-form-description").fill(TRANSLATOR["description"])
    page.get_by_test_id("profile-form-system-prompt").fill(TRANSLATOR["system_prompt"])
    page.get_by_test_id("profile-form-max-tool-steps").fill("3")
    page.get_by_test_id("profile-form-all-tools").uncheck()
    expect(page.locator('[data-testid="profile-tool"][data-tool="delegate"]')).to_have_count(1)  # with the tools GET /v1/tools lists
    page.locator('[data-testid="profile-tool"][data-tool="search_memory"]').check()
    page.locator('[data-testid="profile-tool"][data-tool="delegate"]').check()
    response = save_form(page, "POST")
    assert response.status == 201, response.text
    assert response.request.post_data_json == TRANSLATOR
    expect(page.get_by_test_id("profile-form")).to_be_hidden()
    expect(row(page, "translator").get_by_test_id("profile-description")).to_have_text(TRANSLATOR["description"])
    expect(row(page, "translator").get_by_test_id("profile-tools")).to_have_text("Tools: delegate, search_memory")
    assert stack.client.get(stack.url + "/v1/profiles/translator").json() == TRANSLATOR

    # Edit: the form holds the profile as stored, its name fixed; every field goes back with PUT.
    row(page, "translator").get_by_test_id("profile-edit").click()
    expect(page.get_by_test_id("profile-form-name")).to_be_disabled()
    expect(page.get_by_test_id("profile-form-name")).to_have_value("translator")
    expect(page.locator('[data-testid="profile-tool"][data-tool="delegate"]')).to_be_checked()
    page.get_by_test_id("profile-form-description").fill("Translates anything into French.")
    page.get_by_test_id("profile-form-all-tools").check()
    response = save_form(page, "PUT")
    assert response.status == 200, response.text
    edited = {**TRANSLATOR, "description": "Translates anything into French.", "tools": None}
    assert stack.client.get(stack.url + "/v1/profiles/translator").json() == edited
    expect(row(page, "translator").get_by_test_id("profile-tools")).to_have_text("Tools: Every tool")

    # A profile a task runs with cannot go: the server's reason shows on the card.
    task = stack.client.post(
        stack.url + "/v1/tasks",
        json={"name": "French digest", "prompt": "Summarise the news in French.", "profile": "translator", "schedule": {"every_seconds": 86400}, "target": "new_chat", "missed": "skip"},
    )
    assert task.status_code == 201, task.text
    row(page, "translator").get_by_test_id("profile-delete").click()
    with page.expect_response(lambda r: r.request.method == "DELETE") as refused:
        row(page, "translator").get_by_test_id("profile-delete-confirm").click()
    assert refused.value.status == 409
    expect(page.get_by_test_id("profiles-error-message")).to_have_text(refused.value.json()["error"]["message"])
    expect(page.get_by_test_id("profiles-error-code")).to_have_text("profile_in_use")
    assert stack.client.delete(f"{stack.url}/v1/tasks/{task.json()['id']}").status_code == 204

    page.set_viewport_size(PHONE)
    row(page, "translator").get_by_test_id("profile-delete").click()
    row(page, "translator").get_by_test_id("profile-delete-confirm").click()
    expect(row(page, "translator")).to_have_count(0)
    expect(page.get_by_test_id("profiles-status")).to_have_text("Deleted translator.")
    assert profile_names(stack) == ["assistant", "coder", "researcher"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path="/tmp/soma-profiles-phone.png", full_page=True)

    create_user(stack, "max", ADMIN_PASSWORD, "member")
    member = new_page()
    log_in(member, stack.url, "max", ADMIN_PASSWORD)
    open_profiles(member, stack.url)
    expect(member.get_by_test_id("profile-name")).to_have_text(["assistant", "coder", "researcher"])
    expect(member.get_by_test_id("profiles-read-only")).to_have_text("Only admins can change profiles.")
    for testid in ("profile-new", "profile-edit", "profile-delete", "profile-form"):
        expect(member.get_by_test_id(testid)).to_have_count(0)


def test_a_chat_made_with_the_researcher_profile_names_it_in_its_header_and_once_deleted_says_so(stack, page) -> None:
    page.goto(stack.url + "/#/chats")
    picker = page.get_by_test_id("new-chat-profile")
    expect(picker).to_have_value("assistant")  # the server's default while it exists
    expect(picker.locator("option")).to_have_text(["assistant", "coder", "researcher"])
    picker.select_option("researcher")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/v1/sessions")) as made:
        page.get_by_test_id("new-chat").click()
    assert made.value.request.post_data_json == {"profile": "researcher"}
    chat_id = made.value.json()["id"]
    expect(page).to_have_url(re.compile(f"#/chats/{chat_id}$"))
    expect(page.get_by_test_id("chat-profile")).to_have_text("researcher")
    expect(page.get_by_test_id("chat-parent")).to_be_hidden()  # a chat of its own, not a delegated one
    assert stack.client.get(f"{stack.url}/v1/sessions/{chat_id}").json()["profile"] == "researcher"

    # An untouched chat of another profile is not reused: New chat makes one with the profile chosen.
    picker.select_option("coder")
    page.get_by_test_id("new-chat").click()
    expect(page.get_by_test_id("chat-profile")).to_have_text("coder")
    expect(page).not_to_have_url(re.compile(f"#/chats/{chat_id}$"))

    assert stack.client.delete(stack.url + "/v1/profiles/researcher").status_code == 204
    page.goto(f"{stack.url}/#/chats/{chat_id}")
    page.reload()
    expect(page.get_by_test_id("chat-profile")).to_have_text("researcher (deleted)")
    expect(page.get_by_test_id("chat-profile")).to_have_attribute("data-deleted", "true")
    expect(page.get_by_test_id("new-chat-profile").locator("option")).to_have_text(["assistant", "coder"])
    page.set_viewport_size(PHONE)
    expect(page.get_by_test_id("chat-profile")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path="/tmp/soma-chat-profile-phone.png")
