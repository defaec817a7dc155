"""The two log line formats, `text` and `json`; both carry the request and session ids when known."""

from __future__ import annotations

import json
import logging
import time

from soma.observability import context

FORMATS = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from `extra=` and goes into JSON lines.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_HIDDEN = {"color_message", "request_id", "session_id"}  # uvicorn's coloured copy; the ids go first, when set


class ContextFilter(logging.Filter):
    """Stamps each record with the current request and session ids, unless `extra=` gave them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = context.request_id.get()
        if getattr(record, "session_id", None) is None:
            record.session_id = context.session_id.get()
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, then `[request_id=… session_id=…]` when known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{k}={getattr(record, k)}" for k in ("request_id", "session_id") if getattr(record, k, None)]
        if not ids:
            return line
        first, newline, rest = line.partition("\n")  # keep a traceback below the line it belongs to
        return f"{first} [{' '.join(ids)}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, session_id, then any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "session_id"):
            if getattr(record, key, None):
                line[key] = getattr(record, key)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _HIDDEN and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def formatter(name: str) -> logging.Formatter:
    """The formatter for a SOMA_LOG_FORMAT value."""
    return JsonFormatter() if name == "json" else TextFormatter()


def _utc(created: float) -> str:
    """An ISO 8601 UTC time with milliseconds: 2025-01-31T12:00:00.123Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"
