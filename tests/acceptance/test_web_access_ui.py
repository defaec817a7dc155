"""Logging in and out of the web UI, the first admin's setup link and changing a password, in a
real headless Chromium against a real gateway process."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from soma.auth import setup_links
from tests.acceptance.browser import (  # noqa: F401
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    browser,
    console,
    create_user,
    expect,
    log_in,
    new_page,
    page,
)


WRONG_LOGIN = "Wrong username or password, or the account is disabled."


def setup_link_token(database_url: str) -> str | None:
    """What `soma up` offers when nobody can log in; in a thread, as Playwright's loop runs in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(setup_links.offer_sync, database_url).result()


def test_a_stranger_lands_on_the_login_page_and_a_wrong_password_gets_the_servers_message(stack, new_page, console) -> None:
    console.allow_http_errors(401)
    create_user(stack, ADMIN_USERNAME, ADMIN_PASSWORD, "admin")
    page = new_page()
    page.goto(stack.url)
    expect(page).to_have_url(f"{stack.url}/login")
    expect(page.get_by_test_id("login-form")).to_be_visible()

    page.get_by_test_id("login-username").fill(ADMIN_USERNAME)
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text(WRONG_LOGIN)
    expect(page).to_have_url(f"{stack.url}/login")

    page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(re.escape(stack.url) + r"/#/chats$"))
    expect(page.get_by_test_id("account-name")).to_have_text(ADMIN_USERNAME)
    expect(page.get_by_test_id("account-role")).to_have_text("admin")
    expect(page.get_by_test_id("nav-chats")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("new-chat")).to_be_visible()
    expect(page.get_by_test_id("nav-admin")).to_have_text("Admin")
    page.screenshot(path="/tmp/soma-logged-in.png")


def test_logging_out_returns_to_the_login_page_and_closes_the_app_in_every_tab(stack, page, console) -> None:
    console.allow_http_errors(401)
    other_tab = page.context.new_page()
    other_tab.goto(stack.url)
    expect(other_tab.get_by_test_id("account-name")).to_have_text(ADMIN_USERNAME)
    other_tab.get_by_test_id("new-chat").click()  # a chat open: its event stream is live
    expect(other_tab).to_have_url(re.compile(r"/#/chats/[0-9a-f-]+$"))

    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/auth/logout")) as logout:
        page.get_by_test_id("logout").click()
    assert logout.value.headers["x-csrf-token"]  # the session's token, sent in a header
    expect(page).to_have_url(f"{stack.url}/login")

    page.goto(stack.url + "/#/memory")  # the app is out of reach without logging in again
    expect(page).to_have_url(f"{stack.url}/login#/memory")
    assert page.request.get(stack.url + "/v1/sessions").status == 401

    # its stream ended with the session (stream.ended): the tab goes to the login page by itself
    expect(other_tab).to_have_url(re.compile(re.escape(f"{stack.url}/login#/chats/") + "[0-9a-f-]+$"))

    log_in(page, stack.url + "/login#/memory", ADMIN_USERNAME, ADMIN_PASSWORD)  # back where they were
    expect(page).to_have_url(f"{stack.url}/#/memory")
    expect(page.get_by_test_id("memory-page")).to_be_visible()


def test_the_setup_link_creates_the_first_admin_and_logs_them_in(stack, new_page, console) -> None:
    console.allow_http_errors(410)
    token = setup_link_token(stack.database_url)
    assert token is not None  # no user exists yet

    page = new_page()
    page.goto(f"{stack.url}/setup#{token}")
    expect(page).to_have_url(f"{stack.url}/setup")  # the token is taken out of the address bar
    page.get_by_test_id("setup-username").fill("grace")
    page.get_by_test_id("setup-password").fill("compiler A-0 1952")
    page.get_by_test_id("setup-again").fill("compiler A-0 1952")
    page.get_by_test_id("setup-submit").click()
    expect(page.get_by_test_id("account-name")).to_have_text("grace")
    expect(page.get_by_test_id("account-role")).to_have_text("admin")
    expect(page.get_by_test_id("nav-admin")).to_be_visible()

    again = new_page()  # the link works once
    again.goto(f"{stack.url}/setup#{token}")
    again.get_by_test_id("setup-password").fill("another password 1")
    again.get_by_test_id("setup-again").fill("another password 1")
    again.get_by_test_id("setup-submit").click()
    expect(again.get_by_test_id("setup-error")).to_have_text(
        "This setup link is used up or expired. Run `soma up` again for a new one, "
        "or create the admin with `soma users create --role admin`."
    )
    users = stack.client.get(stack.url + "/v1/users").json()["users"]
    assert [(u["username"], u["role"]) for u in users] == [("grace", "admin")]


def test_a_changed_password_ends_the_session_and_only_the_new_one_works(stack, page, console) -> None:
    console.allow_http_errors(401, 403)
    new_password = "difference engine 1822"
    page.get_by_test_id("change-password").click()
    dialog = page.get_by_test_id("password-dialog")
    expect(dialog).to_be_visible()

    page.get_by_test_id("password-current").fill("not my password")
    page.get_by_test_id("password-new").fill(new_password)
    page.get_by_test_id("password-again").fill(new_password)
    page.get_by_test_id("password-submit").click()
    expect(page.get_by_test_id("password-current-error")).to_contain_text("The current password is wrong, so nothing changed.")
    expect(page).to_have_url(re.compile(r"/#/chats$"))  # a wrong password is not a lost session

    page.get_by_test_id("password-current").fill(ADMIN_PASSWORD)
    page.get_by_test_id("password-again").fill("something else entirely")
    page.get_by_test_id("password-submit").click()
    expect(page.get_by_test_id("password-error")).to_have_text("The two new passwords differ.")
    page.screenshot(path="/tmp/soma-change-password.png")

    page.get_by_test_id("password-again").fill(new_password)
    page.get_by_test_id("password-submit").click()
    expect(page).to_have_url(f"{stack.url}/login")
    page.goto(stack.url)
    expect(page).to_have_url(f"{stack.url}/login")  # the session ended with the change

    page.get_by_test_id("login-username").fill(ADMIN_USERNAME)
    page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text(WRONG_LOGIN)
    log_in(page, stack.url, ADMIN_USERNAME, new_password)
