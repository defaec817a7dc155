"""Settings → Tunnel in a real headless Chromium: a refusal in the server's words, then on, connected with its URL, and off."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests import procs
from tests.acceptance.browser import browser, console, expect, open_page, page  # noqa: F401
from tests.acceptance.conftest import stack  # noqa: F401
from tests.tunnel.test_supervisor import FAKE

PUBLIC_URL = "https://soma.example.org"
SCREENSHOT = Path("/tmp/soma-tunnel.png")



def test_the_tunnel_card_shows_a_refusal_then_opens_a_quick_tunnel_and_closes_it(stack, page, console) -> None:
    door = procs.free_port()  # the public gateway's tunnel door, where the supervisor points cloudflared
    supervisor = stack.launcher.start(
        "tunnel", [sys.executable, "-m", "soma", "tunnel", "run"],
        stack.env(cloudflared=FAKE, public_url=PUBLIC_URL, tunnel_metrics_port=0, tunnel_origin_port=door),
    )  # fmt: skip
    open_page(page, stack.url, "settings")  # this gateway has no SOMA_PUBLIC_URL
    switch = page.get_by_test_id("tunnel-switch")
    expect(page.get_by_test_id("tunnel-state")).to_have_text("Off")
    expect(switch).not_to_be_checked()
    # It cannot open here, and says why before anyone tries: disabled, described by the server's reason.
    expect(switch).to_be_disabled()
    expect(page.get_by_test_id("tunnel-mode")).to_be_disabled()
    reason = "SOMA_PUBLIC_URL is unset: set it to the https origin the tunnel serves, e.g. https://soma.example.org."
    expect(page.get_by_test_id("tunnel-blocked")).to_have_text(reason)
    expect(switch).to_have_accessible_description(reason)

    public_gateway, _ = stack.gateway(public_url=PUBLIC_URL, tunnel_origin_port=door)
    open_page(page, public_gateway, "settings")
    page.get_by_test_id("tunnel-mode").select_option("quick")
    page.get_by_test_id("tunnel-switch").check()
    expect(page.get_by_test_id("tunnel-state")).to_have_text("Connected", timeout=15_000)
    expect(page.get_by_test_id("tunnel-url").get_by_role("link")).to_have_text(re.compile(r"^https://[0-9a-f-]+\.trycloudflare\.com$"))
    expect(page.get_by_test_id("tunnel-origin")).to_have_text(f"http://127.0.0.1:{door}")  # the door, not the gateway's own port
    expect(page.get_by_test_id("tunnel-last-error")).to_have_text("—")
    page.get_by_test_id("settings-tunnel").screenshot(path=str(SCREENSHOT))

    page.get_by_test_id("tunnel-switch").uncheck()
    expect(page.get_by_test_id("tunnel-state")).to_have_text("Off", timeout=10_000)
    expect(page.get_by_test_id("tunnel-url")).to_have_text("—")
    assert supervisor.alive(), supervisor.output()
    assert console.unexpected() == []
