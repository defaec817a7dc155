"""/v1/status: what every signed-in user should know now, because chat is broken for all until someone acts.

The web UI shows each notice as a banner over every page (web/static/notices.js) and asks again
every half minute, so the banner goes once the cause is fixed. Today there is one: no SLM key (after
OpenBao lost its store, a revoked key, an empty Secret), which otherwise shows only as one failed
turn after another. /ready reports the same to probes and operators; this is for people.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

router = APIRouter(prefix="/v1/status", tags=["status"])

SLM_KEY_MISSING = "slm_key_missing"
ROTATE_KEY = "Store it with `soma slm rotate-key < key.txt` (runbook 3, docs/runbooks/rotate-slm-key.md)."


class Notice(BaseModel):
    """One condition: a stable code, and a sentence saying what is wrong and what to do."""

    code: str
    message: str


class Status(BaseModel):
    """The notices in force; empty when all is well."""

    notices: list[Notice]


@router.get("", response_model=Status)
async def get_status(request: Request) -> Status:
    """The conditions that break chat for every user until an operator acts, each saying what to do."""
    notices = []
    keys = request.app.state.keys  # re-read every SOMA_SECRET_RELOAD_SECONDS (secrets.watch)
    reading = keys.current()
    if reading.value is None:
        reload = request.app.state.settings.secret_reload_seconds
        store = ROTATE_KEY if keys.source.name == "vault" else f"Put it in {reading.origin}."
        message = (
            f"Every answer fails until an admin stores an SLM key: {reading.missing}. {store} "
            f"Answers work again within {reload:g} s, with no restart; then send the unanswered messages again."
        )
        notices.append(Notice(code=SLM_KEY_MISSING, message=message))
    return Status(notices=notices)
