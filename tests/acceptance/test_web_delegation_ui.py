"""Delegation in a real headless Chromium: a `delegate` step holding its child chat, two levels deep.

Real processes: a gateway, a worker and the scripted SLM, which asks the parent chat's agent to
delegate to a `manager` profile, the manager to delegate to the researcher, and holds the
researcher's answer half-way, so the page is seen streaming the grandchild's answer inside both
steps while it runs. Once every turn has answered, the steps are closed, and opening them (live,
and again after a reload, from the logs alone) shows each child chat's question, answer and steps.
A child chat opened by itself links back to the chat that delegated to it and takes no messages.
"""

from __future__ import annotations

import re

from tests.acceptance.browser import browser, console, expect, page, sync_api  # noqa: F401
from tests.acceptance.chat_steps import open_chat

MANAGER = {"name": "manager", "description": "Splits a job and hands its parts on.", "system_prompt": "", "model": None, "tools": ["delegate"], "max_tool_steps": None}
PLAN = "Delegated to manager: Plan the trip"
FIND = "Delegated to researcher: Find the capital of France"


def delegate(profile: str, task: str) -> dict:
    return {"tool_calls": [{"name": "delegate", "arguments": {"profile": profile, "task": task}}]}


def delegate_step(scope: sync_api.Page | sync_api.Locator, title: str) -> sync_api.Locator:
    """The delegate step whose own line (not a nested one's) has this title."""
    return scope.locator(f'[data-kind="delegate"]:has(> [data-testid="step-toggle"] [data-testid="step-delegate"]:text-is("{title}"))')


def own_messages(step: sync_api.Locator) -> sync_api.Locator:
    """The texts of the messages of the step's child chat, not those of the chats nested below it."""
    messages = ':scope > [data-testid="step-body"] > [data-testid="delegate-child"] > [data-testid="delegate-messages"] > li > [data-testid="message"]'
    return step.locator(f'{messages} > [data-testid="message-content"]')


def open_step(step: sync_api.Locator) -> None:
    toggle = step.locator(':scope > [data-testid="step-toggle"]')
    expect(toggle).to_have_attribute("aria-expanded", "false")  # over, so closed
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")


def expect_children(page: sync_api.Page) -> None:
    """Open both finished steps and check each child chat's question, answer and steps."""
    plan = delegate_step(page, PLAN)
    expect(plan).to_have_attribute("data-state", "ok")
    open_step(plan)
    expect(own_messages(plan)).to_have_text(["Plan the trip", "The researcher found: Paris."])
    find = delegate_step(plan, FIND)
    expect(find).to_have_attribute("data-state", "ok")
    open_step(find)
    expect(own_messages(find)).to_have_text(["Find the capital of France", "Paris is the capital of France."])


def test_a_delegated_step_shows_its_child_chat_nested_live_and_from_the_log_and_the_child_links_back(stack, page) -> None:
    assert stack.client.post(stack.url + "/v1/profiles", json=MANAGER).status_code == 201
    worker = stack.launch_worker(slm_read_timeout=60)  # the held answer must not time out and be asked again
    stack.slm.script(
        delegate("manager", "Plan the trip"),
        delegate("researcher", "Find the capital of France"),
        {"chunks": ["Paris is", " the capital of France."], "hold_after": 1},
        {"chunks": ["The researcher found: Paris."]},
        {"chunks": ["Your trip goes to Paris."]},
    )
    chat_id = stack.new_session()
    open_chat(page, stack.url, chat_id)
    stack.wait_ready(worker)
    composer = page.get_by_test_id("composer-input")
    composer.fill("Plan my trip.")
    composer.press("Enter")

    # Running: both steps open by themselves, the grandchild's answer streaming inside them.
    plan = delegate_step(page, PLAN)
    expect(plan).to_have_attribute("data-state", "running")
    expect(plan.locator(':scope > [data-testid="step-toggle"]')).to_have_attribute("aria-expanded", "true")
    find = delegate_step(plan, FIND)
    expect(find).to_have_attribute("data-state", "running")
    expect(own_messages(find).last).to_have_text("Paris is")
    page.screenshot(path="/tmp/soma-delegation-running.png", full_page=True)
    stack.slm.release()

    answers = page.locator('[data-testid="message-list"] > [data-testid="turn"] > [data-testid="message"][data-role="assistant"]')
    expect(answers.locator(':scope > [data-testid="message-content"]')).to_have_text("Your trip goes to Paris.")
    expect_children(page)
    page.screenshot(path="/tmp/soma-delegation.png", full_page=True)

    page.reload()  # from the logs alone: nothing streams until a step is opened
    expect(answers.locator(':scope > [data-testid="message-content"]')).to_have_text("Your trip goes to Paris.")
    expect_children(page)

    plan = delegate_step(page, PLAN)
    link = plan.locator(':scope > [data-testid="step-body"] > [data-testid="delegate-child"] [data-testid="delegate-open"]').first
    child = re.search(r"#/chats/(.+)$", link.get_attribute("href")).group(1)
    assert stack.client.get(f"{stack.url}/v1/sessions/{child}").json()["parent_session_id"] == chat_id
    link.click()
    expect(page).to_have_url(re.compile(f"#/chats/{child}$"))
    expect(page.get_by_test_id("chat-profile")).to_have_text("manager")
    expect(page.get_by_test_id("chat-parent")).to_be_visible()
    expect(page.get_by_test_id("composer-input")).to_be_disabled()
    expect(page.locator('[data-testid="regenerate"]:visible, [data-testid="edit-message"]:visible')).to_have_count(0)  # its parent's turn drives it
    expect(delegate_step(page, FIND)).to_have_attribute("data-state", "ok")  # its own delegation, nested the same way
    page.get_by_test_id("chat-parent-link").click()
    expect(page).to_have_url(re.compile(f"#/chats/{chat_id}$"))
    expect(page.get_by_test_id("chat-parent")).to_be_hidden()
    expect(page.get_by_test_id("composer-input")).to_be_enabled()
