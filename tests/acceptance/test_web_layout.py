"""Every page of the web UI on a phone (390×844, touch) and a desktop (1280×800) in a real headless Chromium:
reachable (on the phone through the Menu button), no wider than the screen, clean for axe-core, its
controls 44 px on a touch screen and reached by Tab with their focus shown.

One gateway per size serves every page; the pages are visited in one test, as a person would click through.
"""

from __future__ import annotations

import json

from tests import procs
from tests.acceptance import axe
from tests.acceptance.browser import ADMIN_PASSWORD, ADMIN_USERNAME, browser, console, create_user, expect, log_in, new_page, sync_api  # noqa: F401

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
NAV = {"Chats": "chats", "Memory": "memory", "Knowledge": "knowledge", "Tasks": "tasks", "Settings": "settings", "Admin": "admin"}
SETTINGS_TABS = {"Tools": "tools", "Profiles": "profiles"}
TOUCH_TARGET = 44  # px, the least height of a control on a touch screen

# How far the page reaches past the right edge of the screen (0 when it fits).
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"

# The visible controls less than TOUCH_TARGET px tall or wide, named by test id or text.
SMALL_CONTROLS = f"""
() => [...document.querySelectorAll("button, select, summary, a.button, .main-nav a, .tabs a, .chat-link, input:not([type=checkbox]):not([type=radio]):not([type=file])")]
  .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
  .map((el) => [el, el.getBoundingClientRect()])
  .filter(([el, box]) => Math.min(box.width, box.height) < {TOUCH_TARGET})
  .map(([el, box]) => `${{el.dataset.testid || el.textContent.trim() || el.outerHTML.slice(0, 60)}}: ${{Math.round(box.width)}}×${{Math.round(box.height)}} px`)
"""


def test_on_a_phone_every_page_opens_from_the_menu_fits_the_screen_has_44_px_targets_and_passes_axe(stack, new_page) -> None:
    worker = stack.launch_worker()  # it starts while the other pages are checked
    chat_id = stack.new_session()
    stack.send(chat_id, "Hello")
    page = _admin(stack, new_page, viewport=PHONE, is_mobile=True, has_touch=True)
    problems: dict[str, object] = {}

    for name, route in NAV.items():
        page.get_by_role("button", name="Menu").click()
        page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
        _arrived(page, route)
        expect(page.get_by_role("navigation", name="Main")).to_be_hidden()  # the menu shuts once a page is chosen
        _check(page, route, problems, touch=True)
    for name, tab in SETTINGS_TABS.items():
        page.get_by_role("button", name="Menu").click()
        page.get_by_role("link", name="Settings").click()
        page.get_by_role("link", name=name).click()
        expect(page.get_by_test_id(f"settings-tab-{tab}")).to_have_attribute("aria-current", "page")
        _check(page, f"settings/{tab}", problems, touch=True)

    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_test_id("logout")).to_be_in_viewport()  # the account's buttons are in the menu too
    _check(page, "the menu", problems, touch=True)
    page.get_by_role("link", name="Chats").click()
    _answered_by(stack, worker, chat_id)
    expect(page.get_by_test_id("new-chat")).to_be_in_viewport(ratio=1)  # with no chat open, the list is shown first
    _check(page, "chats with the drawer open", problems, touch=True)
    page.locator(f'[data-testid="chat-item"][data-chat-id="{chat_id}"]').click()
    drawer_button = page.get_by_role("button", name="Chat list")
    expect(drawer_button).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_test_id("new-chat")).to_be_hidden()
    drawer_button.click()
    expect(page.get_by_test_id("new-chat")).to_be_focused()  # the drawer is open, the focus in it
    page.keyboard.press("Escape")
    expect(drawer_button).to_be_focused()
    _answered(page)
    _check(page, "a chat", problems, touch=True)
    _keyboard(page, "a chat", problems)

    login = new_page(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    login.goto(stack.url + "/login")
    _check(login, "login", problems, touch=True)
    assert problems == {}, json.dumps(problems, indent=1)


def test_on_a_desktop_every_page_fits_the_screen_passes_axe_and_tab_reaches_every_control_with_visible_focus(stack, new_page) -> None:
    worker = stack.launch_worker()  # it starts while the other pages are checked
    chat_id = stack.new_session()
    stack.send(chat_id, "Hello")
    page = _admin(stack, new_page, viewport=DESKTOP)
    problems: dict[str, object] = {}

    expect(page.get_by_role("button", name="Menu")).to_be_hidden()  # the links sit in the top bar
    for name, route in NAV.items():
        page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
        _arrived(page, route)
        _check(page, route, problems)
    for name, tab in SETTINGS_TABS.items():
        page.get_by_role("link", name="Settings").click()
        page.get_by_role("link", name=name).click()
        expect(page.get_by_test_id(f"settings-tab-{tab}")).to_have_attribute("aria-current", "page")
        _check(page, f"settings/{tab}", problems)
    page.get_by_role("link", name="Chats").click()
    _answered_by(stack, worker, chat_id)
    page.locator(f'[data-testid="chat-item"][data-chat-id="{chat_id}"]').click()
    _answered(page)
    _check(page, "a chat", problems)
    _keyboard(page, "a chat", problems)
    page.get_by_role("link", name="Admin").click()
    _arrived(page, "admin")
    _keyboard(page, "admin", problems)

    login = new_page(viewport=DESKTOP, bypass_csp=True)
    login.goto(stack.url + "/login")
    _check(login, "login", problems)
    assert problems == {}, json.dumps(problems, indent=1)


def _admin(stack, new_page, **options: object) -> sync_api.Page:
    """A page logged in as the admin; the CSP bypassed so that axe-core can be added to it."""
    create_user(stack, ADMIN_USERNAME, ADMIN_PASSWORD, "admin")
    page = new_page(bypass_csp=True, **options)
    log_in(page, stack.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    return page


def _answered_by(stack, worker: procs.Proc, chat_id: str) -> None:
    """Until the scripted SLM has answered the chat's question, so its messages show their actions."""
    stack.wait_ready(worker)
    procs.wait_until(lambda: len(stack.messages(chat_id)) == 2, 30, "the answer")


def _arrived(page: sync_api.Page, route: str) -> None:
    expect(page.get_by_test_id(f"nav-{route}")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id(f"{route}-page")).to_be_visible()
    expect(page.locator('[aria-busy="true"]')).to_have_count(0)  # its lists are loaded


def _answered(page: sync_api.Page) -> None:
    expect(page.locator('[data-testid="message"][data-role="assistant"]')).to_have_attribute("data-state", "done")


def _check(page: sync_api.Page, where: str, problems: dict[str, object], touch: bool = False) -> None:
    """Note in `problems` what is wrong with the page as shown now: overflow, axe violations, small touch targets."""
    overflow = page.evaluate(OVERFLOW)
    if overflow > 0:
        problems[f"{where}: wider than the screen by {overflow} px"] = page.evaluate(WIDEST)
    if found := axe.violations(page):
        problems[f"{where}: axe"] = found
    if touch and (small := page.evaluate(SMALL_CONTROLS)):
        problems[f"{where}: controls under {TOUCH_TARGET} px"] = small


# What names a control across re-renders (a list drawn again holds new elements): its kind, test id,
# chat, label and text, and its place among the controls named alike.
CONTROLS = "a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])"
KEY = f"""
const controls = "{CONTROLS}";
const base = (el) => [el.tagName, el.dataset.testid, el.dataset.chatId, el.getAttribute("aria-label"), el.textContent.trim().slice(0, 40)].join("|");
const key = (el) => base(el) + "#" + [...document.querySelectorAll(controls)].filter((other) => base(other) === base(el)).indexOf(el);
const named = (el) => el.dataset.testid || el.getAttribute("aria-label") || el.textContent.trim().slice(0, 30) || el.outerHTML.slice(0, 60);
"""

# After a Tab: "again" once the focus is back on a control it had (a full round), else whether the
# focus shows. The composer's text box shows it on its box (:focus-within).
FOCUSED = f"""
() => {{
  {KEY}
  const el = document.activeElement;
  window.tabbed = window.tabbed || new Set();
  if (!el || el === document.body) return null;
  if (window.tabbed.has(key(el))) return "again";
  window.tabbed.add(key(el));
  const shown = (node) => node && (getComputedStyle(node).outlineStyle !== "none" || getComputedStyle(node).boxShadow !== "none");
  return shown(el) || (el.matches(".composer-input") && shown(el.closest(".composer-box"))) ? "shown" : "hidden: " + named(el);
}}
"""

# The controls on screen that Tab never reached.
UNREACHED = f"""
() => {{
  {KEY}
  return [...document.querySelectorAll(controls)]
    .filter((el) => !el.disabled && el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
    .filter((el) => el.tabIndex >= 0 && !(el.type === "radio" && !el.checked))
    .filter((el) => !window.tabbed.has(key(el)))
    .map(named);
}}
"""
TABS_AT_MOST = 120  # a page's controls, with room to spare


def _keyboard(page: sync_api.Page, where: str, problems: dict[str, object]) -> None:
    """Tab through the whole page: note controls Tab never reaches and focus that does not show."""
    expect(page.locator('[aria-busy="true"]')).to_have_count(0)  # every list drawn: a row drawn mid-walk would be "not reached"
    page.evaluate("() => { document.activeElement.blur(); window.tabbed = new Set(); }")  # from the top of the page
    unseen = []
    for _ in range(TABS_AT_MOST):
        page.keyboard.press("Tab")
        seen = page.evaluate(FOCUSED)
        if seen == "again":
            break
        if seen and seen != "shown":
            unseen.append(seen)
    if unseen:
        problems[f"{where}: focus not shown"] = unseen
    if unreached := page.evaluate(UNREACHED):
        problems[f"{where}: not reached by Tab"] = unreached


# The elements that reach past the screen's right edge, to name in a failure.
WIDEST = """
() => [...document.querySelectorAll("body *")]
  .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 8)
  .map((el) => `${el.tagName.toLowerCase()}.${el.className}: right ${Math.round(el.getBoundingClientRect().right)}`)
"""
