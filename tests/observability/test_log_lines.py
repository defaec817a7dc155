"""Log lines as text and as JSON, with the request and session they belong to; a bad SOMA_LOG_FORMAT stops a command."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from soma.observability import context, logformat
from tests import procs

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def lines() -> Iterator[tuple[io.StringIO, list[logging.Handler]]]:
    """Attach a handler (added by the test) to the `soma.test` and `soma.access` loggers; detach it after."""
    stream = io.StringIO()
    handlers: list[logging.Handler] = []
    yield stream, handlers
    for name in ("soma.test", "soma.access"):
        for handler in handlers:
            logging.getLogger(name).removeHandler(handler)


def _handler(stream: io.StringIO, log_format: str) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logformat.formatter(log_format))
    handler.addFilter(logformat.ContextFilter())
    return handler


def _attach(lines, log_format: str, *names: str) -> io.StringIO:
    stream, handlers = lines
    handler = _handler(stream, log_format)
    handlers.append(handler)
    for name in names:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    return stream


def test_a_json_line_has_time_level_logger_message_ids_and_extra_fields(lines) -> None:
    stream = _attach(lines, "json", "soma.test")

    with context.bind(request="req-1", session="7d5c6b0e-0000-4000-8000-000000000001"):
        logging.getLogger("soma.test").warning("turn for message %d: %s", 5, "failed", extra={"outcome": "failed"})

    line = json.loads(stream.getvalue())
    assert TS.fullmatch(line.pop("ts"))
    assert line == {
        "level": "WARNING",
        "logger": "soma.test",
        "message": "turn for message 5: failed",
        "request_id": "req-1",
        "session_id": "7d5c6b0e-0000-4000-8000-000000000001",
        "outcome": "failed",
    }


def test_a_json_line_leaves_out_ids_it_does_not_know_and_keeps_a_traceback_on_its_one_line(lines) -> None:
    stream = _attach(lines, "json", "soma.test")

    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("soma.test").exception("it broke")

    text = stream.getvalue()
    assert text.count("\n") == 1
    line = json.loads(text)
    assert "request_id" not in line and "session_id" not in line
    assert line["message"] == "it broke" and line["exc"].endswith("ValueError: boom")


def test_a_text_line_names_its_request_and_session_after_the_message(lines) -> None:
    stream = _attach(lines, "text", "soma.test")

    logging.getLogger("soma.test").info("no context")
    with context.bind(request="req-2"):
        logging.getLogger("soma.test").info("with context")

    first, second = stream.getvalue().splitlines()
    assert first.endswith(" INFO soma.test: no context")
    assert second.endswith(" INFO soma.test: with context [request_id=req-2]")


async def test_the_gateway_logs_one_access_line_per_request_with_its_ids(api, lines) -> None:
    stream = _attach(lines, "json", "soma.access")
    session = (await api.post("/v1/sessions")).json()

    response = await api.get(f"/v1/sessions/{session['id']}/messages")

    created, listed = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert created["route"] == "/v1/sessions" and "session_id" not in created
    assert TS.fullmatch(listed.pop("ts"))
    ms = listed.pop("duration_ms")
    assert listed == {
        "level": "INFO",
        "logger": "soma.access",
        "message": f"GET /v1/sessions/{session['id']}/messages 200 {ms:.1f}ms",
        "request_id": response.headers["X-Request-ID"],
        "session_id": session["id"],
        "method": "GET",
        "route": "/v1/sessions/{session_id}/messages",
        "path": f"/v1/sessions/{session['id']}/messages",
        "status": 200,
    }


async def test_probes_and_scrapes_log_their_access_lines_at_debug(api, lines) -> None:
    stream = _attach(lines, "json", "soma.access")

    for path in ("/health", "/ready", "/metrics", "/v1/sessions"):
        await api.get(path)

    levels = [(json.loads(line)["route"], json.loads(line)["level"]) for line in stream.getvalue().splitlines()]
    assert levels == [("/health", "DEBUG"), ("/ready", "DEBUG"), ("/metrics", "DEBUG"), ("/v1/sessions", "INFO")]


def test_an_unknown_log_format_stops_a_command_naming_the_variable(tmp_path) -> None:
    env = procs.soma_env("postgresql://nobody@127.0.0.1:1/none", log_format="xml")

    done = subprocess.run(
        [sys.executable, "-m", "soma", "worker"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "error: SOMA_LOG_FORMAT='xml': Input should be 'text' or 'json'. Fix the value in the environment or in .env, "
        "then start again; `soma COMMAND --help` names each command's settings.\n"
    )
