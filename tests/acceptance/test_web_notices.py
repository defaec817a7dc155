"""The banner over every page when chat is broken for everyone: here, no SLM key in Vault after OpenBao lost its store."""

from __future__ import annotations

from tests import openbao, procs
from tests.acceptance.browser import browser, console, create_user, expect, log_in, new_page  # noqa: F401

MEMBER, PASSWORD = "ann", "not an admin at all"
POLL_MS = 30_000  # notices.js asks /v1/status this often


def test_a_missing_slm_key_shows_every_user_a_banner_saying_what_to_do_until_a_key_is_stored(stack, new_page, vault) -> None:
    vault.forget()
    url, _ = stack.gateway(vault_addr=vault.addr, vault_token=openbao.ROOT_TOKEN, secret_reload_seconds=1)
    create_user(stack, MEMBER, PASSWORD, "member")
    page = new_page()
    page.clock.install()  # the page's timers run on a clock the test moves; it flows as usual until then
    log_in(page, url, MEMBER, PASSWORD)

    banner = page.get_by_test_id("notice-slm_key_missing")
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text("Every answer fails until an admin stores an SLM key: nothing is stored at kv/slm/api-key in Vault.")
    expect(banner).to_contain_text("Store it with `soma slm rotate-key < key.txt`")
    page.get_by_test_id("nav-memory").click()
    expect(page.get_by_test_id("memory-page")).to_be_visible()
    expect(banner).to_be_visible()  # over every page, not only the chat

    vault.write_key("sk-stored-again")
    # The gateway reads the key within its reload second; then the page's next poll, POLL_MS on,
    # finds nothing to say. Each move of the clock fires every timer due meanwhile at once.
    procs.wait_until(lambda: _polled_and_empty(page), timeout=20, what="the banner to go once the key is stored")


def _polled_and_empty(page) -> bool:
    """Move the page's clock to its next poll of /v1/status; True when the notices are gone after it."""
    page.clock.run_for(POLL_MS)
    try:
        expect(page.get_by_test_id("notices")).to_be_empty(timeout=1000)
    except AssertionError:
        return False
    return True
