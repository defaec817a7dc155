"""Serving the web UI: its three pages and the static files they load.

The UI holds no server logic: every page is a client of the `/v1` API, so the gateway only hands
these files out (the login and setup pages, and their assets, to strangers too: gateway/authn.py).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "index.html", "/login": "login.html", "/setup": "setup.html"}


def install(app: FastAPI) -> None:
    """Serve the pages at their paths and everything else under /static/."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for path, page in PAGES.items():
        app.add_api_route(path, _page(page), include_in_schema=False)


def _page(name: str):
    async def serve() -> FileResponse:
        return FileResponse(STATIC / name)

    return serve
