"""The emergency lockdown in the gateway: 503 lockdown for every request but the probes and the UI's files."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from soma import errors
from soma.emergency import lockdown
from soma.gateway import status_api

# Probes, pages that only load files, and the flag itself, which the UI polls to show the lockdown.
OPEN_PATHS = frozenset({"/health", "/ready", "/metrics", "/", "/login", "/setup", status_api.LOCKDOWN_PATH})
OPEN_PREFIX = "/static/"


def watch(app: FastAPI, database_url: str) -> lockdown.Watch:
    """Start this gateway's copy of the lockdown flag; when it turns on, every open event stream ends."""
    flag = lockdown.Watch(database_url, on_change=lambda active: app.state.notifier.lock_all() if active else None)
    flag.start()
    return flag


class Gate:
    """503 lockdown while the lockdown is on, read from memory (no query per request).

    Outside authentication, so a revoked key or an ended login gets the same answer as everyone.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _locked(scope) and not is_open(scope["path"]):
            raise errors.Lockdown()  # rendered by gateway/error_shape.py's Catch
        await self.app(scope, receive, send)


def _locked(scope: Scope) -> bool:
    flag = getattr(scope["app"].state, "lockdown", None)
    return flag is not None and flag.active


def is_open(path: str) -> bool:
    """True for the probes, the UI's files and the lockdown flag, which are served even under lockdown."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIX)
