"""A CSV attached in Chromium, analysed by the agent's code in the sandbox, its chart shown inline and downloaded.

Everything is real: the browser, the gateway, a worker, `soma sandbox` with bubblewrap, and the
sandbox's Python with pandas and matplotlib. Only the SLM is scripted: it asks for one run_code
call, as a model would, then answers.
"""

from __future__ import annotations

from pathlib import Path

from tests import procs
from tests.acceptance.browser import browser, console, expect, page  # noqa: F401
from tests.acceptance.chat_steps import open_chat

SCREENSHOTS = Path("/tmp")
SANDBOX_KEY = "a-sandbox-key-for-the-browser-test-of-code-runs"  # the service wants 32 characters or more
RUN_MS = 120_000  # a fresh sandbox imports pandas and matplotlib, on a machine shared with other tests
CSV = b"month,sales\njan,3\nfeb,5\nmar,8\n"
CODE = """import pandas as pd
import matplotlib
matplotlib.use("Agg")
sales = pd.read_csv("sales.csv")
print("total", sales["sales"].sum())
sales.plot(x="month", y="sales", kind="bar").figure.savefig("chart.png")
"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sandbox(stack) -> str:
    """Start `soma sandbox` on a free port; returns its URL once it answers."""
    port = procs.free_port()
    proc = stack.launcher.soma("sandbox", stack.env(sandbox_host="127.0.0.1", sandbox_port=port, sandbox_key=SANDBOX_KEY))
    url = f"http://127.0.0.1:{port}"
    procs.wait_healthy(url, proc)
    return url


def test_a_csv_attached_in_the_browser_is_charted_by_code_and_the_chart_shows_inline_and_downloads(stack, page) -> None:
    stack.worker(sandbox_url=sandbox(stack), sandbox_key=SANDBOX_KEY)
    stack.slm.script(
        {"tool_calls": [{"name": "run_code", "arguments": {"language": "python", "code": CODE}}]},
        {"chunks": ["Sales came to 16; the chart is chart.png."]},
    )
    chat_id = stack.new_session()
    open_chat(page, stack.url, chat_id)
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("attach").click()
    chooser.value.set_files([{"name": "sales.csv", "mimeType": "text/csv", "buffer": CSV}])
    page.get_by_test_id("composer-input").fill("Chart my sales")
    page.get_by_test_id("send").click()

    line = page.locator('[data-testid="step"][data-kind="code"]')
    expect(line.get_by_test_id("step-code").locator("pre code")).to_have_text(CODE)
    expect(line).to_have_attribute("data-state", "ok", timeout=RUN_MS)
    expect(line.get_by_test_id("step-output").locator('[data-stream="stdout"]')).to_have_text("total 16\n")
    expect(line.get_by_test_id("step-exit")).to_have_text("Exit code 0")
    picture = line.locator('[data-testid="file-picture"][data-path="chart.png"]')
    expect(picture).to_be_visible()
    assert picture.evaluate("(img) => img.naturalWidth") > 100  # a real chart, decoded
    with page.expect_download() as download:
        line.locator('a[data-path="chart.png"]').click()
    assert download.value.suggested_filename == "chart.png"
    assert Path(download.value.path()).read_bytes().startswith(PNG_SIGNATURE)
    answer = page.locator('[data-testid="message"][data-role="assistant"]')
    expect(answer.get_by_test_id("message-content")).to_have_text("Sales came to 16; the chart is chart.png.")
    page.screenshot(path=str(SCREENSHOTS / "soma-code-end-to-end.png"), full_page=True)

    page.get_by_test_id("files-open").click()
    expect(page.get_by_test_id("files-panel").get_by_test_id("file-download")).to_have_text(["chart.png", "sales.csv"])
