"""A run_code call in the chat, in a real headless Chromium against a real gateway process.

The call's events are appended to the log as the worker writes them (tests/tool_steps.py), and the
files it wrote are put in the chat's workspace with the store the worker uses, so the page reads
real files through the real files API. What shows while it runs and what a reload rebuilds from
the log are both checked: the code, labelled with its language and never parsed as HTML; the
output as it streams, stderr set apart; how it ended; its files as download links; a PNG drawn
inline, an SVG (which can carry script) and a file merely named .png only linked.
The same run through the real run_code tool and sandbox is test_web_code_end_to_end.py.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path

from soma.workspaces import store
from tests import tool_steps
from tests.acceptance.browser import browser, console, expect, page, sync_api  # noqa: F401
from tests.acceptance.chat_steps import open_chat, step

SCREENSHOTS = Path("/tmp")
PHONE = {"width": 390, "height": 844}
HOSTILE_CODE = 'print("<img src=x onerror=\\"window.pwned = 1\\">")\nimport matplotlib\n'
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>window.pwned = 3</script><rect width="9" height="9"/></svg>'
CSV = b"month,sales\njan,3\nfeb,5\n"
MAX_BYTES = 100 * 1024 * 1024


def png(width: int, height: int) -> bytes:
    """A valid PNG of one colour, made without an image library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x4f\x46\xe5" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def put_files(worker: tool_steps.Worker, chat_id: str, files: dict[str, bytes]) -> list[dict]:
    """Write files into the chat's workspace as a run's result is applied; returns them as the listing shows them."""

    async def work(conn):
        return [await store.put(conn, uuid.UUID(chat_id), path, data, MAX_BYTES) for path, data in files.items()]

    return worker.run(work)


def described(files: list[dict]) -> list[dict]:
    """As run_code's details list the files it changed."""
    return [{"path": f["path"], "size": f["size"], "sha256": f["sha256"]} for f in files]


def remove_file(worker: tool_steps.Worker, chat_id: str, path: str) -> None:
    worker.run(lambda conn: store.remove(conn, uuid.UUID(chat_id), path))


def expect_picture(line: sync_api.Locator, path: str, width: int) -> None:
    picture = line.locator(f'[data-testid="file-picture"][data-path="{path}"]')
    expect(picture).to_be_visible()
    expect(picture).to_have_attribute("alt", path)
    assert picture.evaluate("(img) => img.complete && img.naturalWidth") == width  # decoded: this very picture


def test_a_code_run_streams_its_output_then_shows_its_ending_files_and_picture_and_a_reload_rebuilds_it(stack, page) -> None:
    worker = tool_steps.Worker(stack.database_url)
    chat_id = stack.new_session()
    asked = stack.send(chat_id, "Chart my sales")["id"]
    open_chat(page, stack.url, chat_id)
    worker.turn_started(chat_id, asked)
    worker.started(chat_id, asked, "run-1", "run_code", {"language": "python", "code": HOSTILE_CODE})

    line = step(page, "run-1")
    expect(line).to_have_attribute("data-state", "running")
    expect(line).to_have_attribute("data-kind", "code")
    expect(line.get_by_test_id("step-toggle")).to_have_attribute("aria-expanded", "true")  # a run shows its code and output from the start
    code = line.get_by_test_id("step-code")
    expect(code.locator(".code-lang")).to_have_text("python")
    expect(code.locator("pre code")).to_have_text(HOSTILE_CODE)  # the model's words as text, never as HTML
    expect(line.get_by_test_id("step-output")).to_be_hidden()  # nothing printed yet

    worker.output(chat_id, asked, "run-1", "stdout", "month 1\n")
    output = line.get_by_test_id("step-output")
    expect(output).to_have_text("month 1\n")
    worker.output(chat_id, asked, "run-1", "stderr", "UserWarning: no display\n")
    worker.output(chat_id, asked, "run-1", "stdout", "month 2\n")
    worker.output(chat_id, asked, "run-1", "stdout", "<b>done</b>\n")
    expect(output).to_have_text("month 1\nUserWarning: no display\nmonth 2\n<b>done</b>\n")
    expect(output.locator('[data-stream="stderr"]')).to_have_text("UserWarning: no display\n")
    expect(output.locator('[data-stream="stdout"]')).to_have_text(["month 1\n", "month 2\n<b>done</b>\n"])
    assert output.locator('[data-stream="stderr"]').evaluate("(el) => getComputedStyle(el).color") != output.locator('[data-stream="stdout"]').first.evaluate(
        "(el) => getComputedStyle(el).color"
    )
    expect(line.get_by_test_id("step-exit")).to_be_hidden()
    page.get_by_test_id("files-open").click()
    panel = page.get_by_test_id("files-panel")
    expect(panel.get_by_test_id("files-empty")).to_be_visible()

    written = put_files(worker, chat_id, {"chart.png": png(40, 30), "out/drawing.svg": SVG, "out/fake.png": b"not a picture", "sales data.csv": CSV})
    worker.finished(
        chat_id, asked, "run-1", "run_code", "exit code 0\nmonth 1\n…", duration_ms=2300,
        details={"exit_code": 0, "reason": None, "files": described(written), "deleted": ["old.csv"]},
    )  # fmt: skip
    expect(line).to_have_attribute("data-state", "ok")
    # The open Files panel reads the list again when a run finishes.
    expect(panel.get_by_test_id("file-download")).to_have_text(["chart.png", "out/drawing.svg", "out/fake.png", "sales data.csv"])
    panel.get_by_test_id("files-close").click()
    expect(panel).to_be_hidden()
    expect(line.get_by_test_id("step-exit")).to_have_text("Exit code 0")
    expect(line.get_by_test_id("step-result")).to_be_hidden()  # the output it repeats is shown already
    files = line.get_by_test_id("step-files")
    expect(files.get_by_test_id("file-link")).to_have_count(4)
    expect(files.get_by_test_id("step-deleted")).to_have_text("Deleted old.csv.")
    expect_picture(line, "chart.png", 40)
    expect(files.get_by_test_id("file-picture")).to_have_count(1)  # the SVG and the file merely named .png are links only
    svg_link = files.locator('[data-path="out/drawing.svg"]')
    expect(svg_link).to_have_attribute("href", f"/v1/sessions/{chat_id}/files/out/drawing.svg")
    expect(files.locator('[data-path="sales data.csv"]')).to_have_attribute("href", f"/v1/sessions/{chat_id}/files/sales%20data.csv")
    assert page.evaluate("window.pwned") is None

    with page.expect_download() as download:
        files.locator('a[data-path="chart.png"]').click()
    assert download.value.suggested_filename == "chart.png"
    assert Path(download.value.path()).read_bytes() == png(40, 30)
    with page.expect_download() as download:
        svg_link.click()
    assert download.value.suggested_filename == "drawing.svg"
    assert Path(download.value.path()).read_bytes() == SVG
    assert page.evaluate("window.pwned") is None
    page.screenshot(path=str(SCREENSHOTS / "soma-code-run.png"), full_page=True)

    # A second run draws the chart again and deletes the CSV: the first run's step no longer shows
    # another run's picture as its own, and names what is gone without a link to it.
    redrawn = put_files(worker, chat_id, {"chart.png": png(20, 10)})
    remove_file(worker, chat_id, "sales data.csv")
    worker.started(chat_id, asked, "run-2", "run_code", {"language": "python", "code": "redraw()"})
    worker.finished(
        chat_id, asked, "run-2", "run_code", "exit code 0", duration_ms=900,
        details={"exit_code": 0, "reason": None, "files": described(redrawn), "deleted": ["sales data.csv"]},
    )  # fmt: skip
    expect_picture(step(page, "run-2"), "chart.png", 20)
    expect(step(page, "run-2").get_by_test_id("step-deleted")).to_have_text("Deleted sales data.csv.")

    worker.answer(chat_id, asked, "Here is your chart.")
    answer = page.locator('[data-testid="message"][data-role="assistant"]')
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator('[data-testid="step"][data-call-id="run-1"]')).to_be_visible()

    page.reload()
    expect(answer).to_have_attribute("data-state", "done")
    line = step(page, "run-1")
    expect(line.get_by_test_id("step-code").locator("pre code")).to_have_text(HOSTILE_CODE)
    expect(line.get_by_test_id("step-output")).to_have_text("month 1\nUserWarning: no display\nmonth 2\n<b>done</b>\n")
    expect(line.get_by_test_id("step-exit")).to_have_text("Exit code 0")
    files = line.get_by_test_id("step-files")
    expect(files.get_by_test_id("file-link")).to_have_count(4)
    expect(files.locator('a[data-testid="file-link"]')).to_have_count(3)  # the CSV is gone: named, no longer a link
    expect(files.locator('[data-testid="step-file"]:has([data-path="chart.png"]) [data-testid="file-note"]')).to_have_text("changed since")
    expect(files.locator('[data-testid="step-file"]:has([data-path="sales data.csv"]) [data-testid="file-note"]')).to_have_text("no longer in this chat")
    expect(files.get_by_test_id("file-note")).to_have_count(2)
    expect(files.get_by_test_id("file-picture")).to_have_count(0)  # chart.png is now another run's picture
    expect_picture(step(page, "run-2"), "chart.png", 20)
    assert page.evaluate("window.pwned") is None


def test_a_run_that_failed_or_was_run_again_says_so_on_a_phone(stack, page) -> None:
    page.set_viewport_size(PHONE)
    worker = tool_steps.Worker(stack.database_url)
    chat_id = stack.new_session()
    asked = stack.send(chat_id, "Loop forever")["id"]
    open_chat(page, stack.url, chat_id)
    worker.turn_started(chat_id, asked)
    loop = "while true; do echo tick; sleep 1; done"
    worker.started(chat_id, asked, "run-2", "run_code", {"language": "shell", "code": loop})
    worker.output(chat_id, asked, "run-2", "stdout", "tick\n")
    line = step(page, "run-2")
    expect(line.get_by_test_id("step-output")).to_have_text("tick\n")
    # Its worker dies and the resumed turn runs it again: only the new run's output counts.
    worker.turn_started(chat_id, asked)
    worker.started(chat_id, asked, "run-2", "run_code", {"language": "shell", "code": loop})
    expect(line.get_by_test_id("step-output")).to_be_hidden()
    worker.output(chat_id, asked, "run-2", "stdout", "tick\ntick\n")
    expect(line.get_by_test_id("step-output")).to_have_text("tick\ntick\n")
    worker.finished(
        chat_id, asked, "run-2", "run_code", "The run was stopped after 60 s.", ok=False, duration_ms=60000, error="timeout",
        details={"exit_code": None, "reason": "timeout", "files": [], "deleted": []},
    )  # fmt: skip
    expect(line).to_have_attribute("data-state", "error")
    expect(line.get_by_test_id("step-code").locator(".code-lang")).to_have_text("shell")
    expect(line.get_by_test_id("step-exit")).to_have_text("Stopped: it ran past the time limit")
    expect(line.get_by_test_id("step-error")).to_have_text("timeout")
    expect(line.get_by_test_id("step-files")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing wider than the phone

    # A run whose output the log no longer has shows its result instead; one that exited non-zero says with what.
    worker.started(chat_id, asked, "run-3", "run_code", {"language": "python", "code": "raise SystemExit(3)"})
    worker.finished(
        chat_id, asked, "run-3", "run_code", "exit code 3", ok=False, duration_ms=80, error="failed",
        details={"exit_code": 3, "reason": None, "files": [], "deleted": []},
    )  # fmt: skip
    third = step(page, "run-3")
    expect(third.get_by_test_id("step-exit")).to_have_text("Exit code 3")
    expect(third.get_by_test_id("step-result")).to_have_text("exit code 3")

    # Set to ask first, a run shows the reader the code it asks to run.
    worker.approval(chat_id, asked, "run-4", "run_code", {"language": "python", "code": "print(2 ** 10)"}, timeout_seconds=300)
    card = step(page, "run-4").get_by_test_id("step-approval")
    expect(card).to_contain_text("Soma asks to run run_code. Allow it?")
    expect(card.get_by_test_id("step-approval-code").locator(".code-lang")).to_have_text("python")
    expect(card.get_by_test_id("step-approval-code").locator("pre code")).to_have_text("print(2 ** 10)")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    worker.answer(chat_id, asked, "It never ends, so I stopped it.")
    expect(card).to_have_count(0)

    page.reload()
    line = step(page, "run-2")
    expect(line.get_by_test_id("step-output")).to_have_text("tick\ntick\n")
    expect(line.get_by_test_id("step-exit")).to_have_text("Stopped: it ran past the time limit")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SCREENSHOTS / "soma-code-run-phone.png"), full_page=True)
