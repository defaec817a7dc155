"""The Admin page (users, API keys, the audit log) and what a member sees, in a real headless
Chromium against a real gateway process."""

from __future__ import annotations

import re

import httpx
import psycopg

from tests.acceptance.browser import (  # noqa: F401
    ADMIN_USERNAME,
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
from tests.conftest import ADMIN_KEY


MEMBER = "bob"
MEMBER_PASSWORD = "a member's password"


def key_row(page: sync_api.Page, name: str) -> sync_api.Locator:
    return page.get_by_test_id("admin-key-row").filter(has=page.get_by_test_id("admin-key-name").get_by_text(name, exact=True))


def user_row(page: sync_api.Page, username: str) -> sync_api.Locator:
    return page.locator(f'[data-testid="admin-user-row"][data-username="{username}"]')


def audit_rows(page: sync_api.Page, action: str) -> sync_api.Locator:
    """Filter the audit table to one action; its rows."""
    page.get_by_test_id("admin-audit-filter").select_option(action)
    expect(page.get_by_test_id("admin-audit-summary")).to_contain_text(f"“{action}” entries")
    return page.get_by_test_id("admin-audit-row")


def status_with(url: str, key: str) -> int:
    return httpx.get(url + "/v1/sessions", headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code


def test_a_new_key_is_shown_once_works_until_revoked_and_revoke_all_stops_every_key(stack, page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.url)
    open_page(page, stack.url, "admin")
    page.get_by_test_id("admin-key-new-name").fill("backup script")
    page.get_by_test_id("admin-key-scope-metrics").check()  # chat is checked already
    page.get_by_test_id("admin-key-expires").fill("30")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/keys")) as created:
        page.get_by_test_id("admin-key-create").click()
    assert created.value.post_data_json == {"name": "backup script", "scopes": ["chat", "metrics"], "expires_days": 30}

    box = page.get_by_test_id("admin-new-key")
    expect(box).to_contain_text("The key “backup script” — copy it now: it will not be shown again.")
    key = page.get_by_test_id("admin-new-key-value").inner_text()
    assert re.fullmatch(r"soma_\S{30,}", key), key
    page.get_by_test_id("admin-new-key-copy").click()
    expect(page.get_by_test_id("admin-new-key-copied")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == key

    row = key_row(page, "backup script")
    expect(row.get_by_test_id("admin-key-prefix")).to_have_text(key[:12] + "…")
    expect(row.get_by_test_id("admin-key-scopes")).to_have_text("chatmetrics")
    expect(row.get_by_test_id("admin-key-creator")).to_have_text(f"user:{ADMIN_USERNAME}")
    expect(row.get_by_test_id("admin-key-state")).to_contain_text("Activeuntil ")
    expect(row.get_by_test_id("admin-key-last-used")).to_have_text("Never")
    page.screenshot(path="/tmp/soma-admin-new-key.png", full_page=True)
    assert status_with(stack.url, key) == 200

    page.reload()  # the key is gone from the page for good; the list shows its prefix only
    expect(row.get_by_test_id("admin-key-prefix")).to_have_text(key[:12] + "…")
    expect(box).to_be_hidden()
    expect(row.get_by_test_id("admin-key-last-used")).not_to_have_text("Never")
    assert key not in page.content()

    row.get_by_test_id("admin-key-revoke").click()
    row.get_by_test_id("admin-key-revoke-confirm").click()
    expect(row.get_by_test_id("admin-key-state")).to_contain_text("Revoked")
    expect(row.get_by_test_id("admin-key-revoke")).to_have_count(0)
    expect(page.get_by_test_id("admin-keys-status")).to_have_text("Revoked “backup script”.")
    assert status_with(stack.url, key) == 401

    revoked = audit_rows(page, "key.revoked")
    expect(revoked.get_by_test_id("admin-audit-target")).to_have_text(["backup script"])
    expect(revoked.get_by_test_id("admin-audit-actor")).to_have_text([f"user:{ADMIN_USERNAME}"])
    expect(revoked.get_by_test_id("admin-audit-details")).to_have_text([f"key_id={row.get_attribute('data-key-id')}, prefix={key[:12]}"])

    assert status_with(stack.url, ADMIN_KEY) == 200
    page.get_by_test_id("admin-keys-revoke-all").click()
    page.get_by_test_id("admin-keys-revoke-all-confirm").click()
    expect(page.get_by_test_id("admin-keys-status")).to_have_text("Revoked 1 key.")  # the bootstrap key; the other was revoked
    expect(page.locator('[data-testid="admin-key-row"][data-state="active"]')).to_have_count(0)
    assert status_with(stack.url, ADMIN_KEY) == 401
    expect(page.get_by_test_id("account-name")).to_have_text(ADMIN_USERNAME)  # logins go on
    expect(audit_rows(page, "key.revoked_all").get_by_test_id("admin-audit-details")).to_have_text(["revoked=1"])


def test_a_refused_key_shows_the_servers_message(stack, page, console) -> None:
    console.allow_http_errors(422)
    open_page(page, stack.url, "admin")
    page.get_by_test_id("admin-key-new-name").fill("nothing allowed")
    page.get_by_test_id("admin-key-scope-chat").uncheck()
    page.get_by_test_id("admin-key-create").click()
    # Said by the field it is about: under the scopes, whose first box is outlined and described by it.
    expect(page.get_by_test_id("admin-key-scope-admin-error")).to_have_text(
        "The request is not valid: scopes: List should have at least 1 item after validation, not 0. Fix the request and send it again."
    )
    expect(page.get_by_test_id("admin-key-scope-admin")).to_have_attribute("aria-invalid", "true")  # the first of them
    expect(page.get_by_test_id("admin-keys-error")).to_be_hidden()
    expect(page.get_by_test_id("admin-new-key")).to_be_hidden()


def test_a_member_made_on_the_admin_page_sees_neither_the_admin_page_nor_the_admins_chats(stack, page, new_page, console) -> None:
    console.allow_http_errors(401, 422)
    page.get_by_test_id("new-chat").click()  # a chat of the admin's
    expect(page).to_have_url(re.compile(r"#/chats/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("chat-item")).to_have_count(1)

    open_page(page, stack.url, "admin")
    expect(user_row(page, ADMIN_USERNAME)).to_contain_text("(you)")
    expect(user_row(page, ADMIN_USERNAME).get_by_test_id("admin-user-disable")).to_have_count(0)  # no locking yourself out
    page.get_by_test_id("admin-user-username").fill(MEMBER)
    page.get_by_test_id("admin-user-password").fill("short")
    page.get_by_test_id("admin-user-create").click()
    password_error = page.get_by_test_id("admin-user-password-error")  # next to the password field, not in a banner
    expect(password_error).to_have_text("The password has 5 characters; at least 10 are needed. Choose a longer password.")
    expect(page.get_by_test_id("admin-user-password")).to_have_accessible_description(
        "At least 10 characters; tell it to them yourself. The password has 5 characters; at least 10 are needed. Choose a longer password."
    )
    expect(page.get_by_test_id("admin-user-password")).to_be_focused()
    page.get_by_test_id("admin-user-password").fill(MEMBER_PASSWORD)
    expect(password_error).to_have_count(0)  # fixing it takes the message away
    page.get_by_test_id("admin-user-create").click()
    expect(page.get_by_test_id("admin-users-status")).to_have_text(f"Added {MEMBER} (member).")
    member_row = user_row(page, MEMBER)
    expect(member_row.get_by_test_id("admin-user-role")).to_have_text("member")
    expect(member_row.get_by_test_id("admin-user-state")).to_have_text("Active")

    member = new_page()
    log_in(member, stack.url, MEMBER, MEMBER_PASSWORD)
    expect(member.get_by_test_id("account-role")).to_have_text("member")
    expect(member.get_by_test_id("nav-chats")).to_be_visible()
    expect(member.get_by_test_id("nav-admin")).to_have_count(0)
    expect(member.get_by_test_id("chat-list-empty")).to_have_text("No chats yet.")  # the admin's chat is not theirs
    expect(member.get_by_test_id("chat-item")).to_have_count(0)
    member.goto(stack.url + "/#/admin")
    expect(member).to_have_url(re.compile(r"#/chats$"))
    open_page(member, stack.url, "settings")
    expect(member.get_by_test_id("settings-status")).to_have_text("Only admins can change the settings.")
    expect(member.get_by_test_id("settings-save")).to_be_hidden()
    expect(member.get_by_test_id("setting-system_prompt")).to_be_disabled()
    open_page(member, stack.url, "memory")
    expect(member.get_by_test_id("memory-read-only")).to_have_text("Only admins can change memories.")
    expect(member.get_by_test_id("memory-add-form")).to_have_count(0)
    open_page(member, stack.url, "knowledge")
    expect(member.get_by_test_id("knowledge-dropzone")).to_have_count(0)
    page.screenshot(path="/tmp/soma-admin-users.png", full_page=True)

    member_row.get_by_test_id("admin-user-disable").click()
    member_row.get_by_test_id("admin-user-disable-confirm").click()
    expect(member_row.get_by_test_id("admin-user-state")).to_have_text("Disabled")
    expect(page.get_by_test_id("admin-users-status")).to_have_text(f"{MEMBER} is disabled; their sessions ended.")
    member.get_by_test_id("nav-chats").click()  # the member's next request finds their session gone
    expect(member).to_have_url(f"{stack.url}/login#/chats")

    logins = audit_rows(page, "auth.login.succeeded")
    expect(logins.get_by_test_id("admin-audit-actor")).to_have_text([f"user:{MEMBER}", f"user:{ADMIN_USERNAME}"])
    expect(audit_rows(page, "user.disabled").get_by_test_id("admin-audit-target")).to_have_text([MEMBER])
    page.get_by_test_id("admin-audit-filter").select_option("")
    expect(page.get_by_test_id("admin-audit-summary")).to_have_text("The latest 6 entries, newest first.")
    expect(page.get_by_test_id("admin-audit-action")).to_have_text(
        ["user.disabled", "auth.login.succeeded", "user.created", "auth.login.succeeded", "user.created", "key.created"]
    )
    page.get_by_test_id("admin-audit").screenshot(path="/tmp/soma-admin-audit.png")


def test_a_password_reset_on_the_admin_page_ends_the_users_session_and_sets_the_new_one(stack, page, new_page) -> None:
    create_user(stack, MEMBER, MEMBER_PASSWORD, "member")
    member = new_page()
    log_in(member, stack.url, MEMBER, MEMBER_PASSWORD)

    open_page(page, stack.url, "admin")
    row = user_row(page, MEMBER)
    row.get_by_test_id("admin-user-reset").click()
    expect(row.get_by_test_id("admin-user-reset-password")).to_be_focused()
    row.get_by_test_id("admin-user-reset-password").fill("a brand new password")
    row.get_by_test_id("admin-user-reset-save").click()
    expect(page.get_by_test_id("admin-users-status")).to_have_text(f"{MEMBER}'s password is reset; their sessions ended.")
    expect(row.get_by_test_id("admin-user-reset")).to_be_visible()  # the row shows its buttons again

    assert member.request.get(stack.url + "/v1/auth/me").status == 401
    log_in(member, stack.url, MEMBER, "a brand new password")
    expect(audit_rows(page, "user.password.reset").get_by_test_id("admin-audit-target")).to_have_text([MEMBER])


def test_the_audit_log_pages_back_with_load_older(stack, page) -> None:
    with psycopg.connect(stack.database_url.replace("+psycopg", "")) as conn:
        conn.execute("INSERT INTO audit_log (action, actor, target) SELECT 'settings.updated', 'cli:ops@host', 'n' || n FROM generate_series(1, 120) n")
    open_page(page, stack.url, "admin")
    expect(page.get_by_test_id("admin-audit-summary")).to_have_text("The latest 100 entries, newest first; older ones below.")
    page.get_by_test_id("admin-audit-more").click()
    expect(page.get_by_test_id("admin-audit-summary")).to_have_text(re.compile(r"The latest 12\d entries, newest first\.$"))
    expect(page.get_by_test_id("admin-audit-more")).to_be_hidden()
    targets = page.get_by_test_id("admin-audit-target").all_text_contents()
    assert [t for t in targets if t.startswith("n")] == [f"n{n}" for n in range(120, 0, -1)]  # each once, newest first
