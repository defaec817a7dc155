"""/v1/status: what every signed-in user should know now, because chat is broken for all until someone acts.

The web UI shows each notice as a banner over every page (web/static/notices.js) and asks again
every half minute, so the banner goes once the cause is fixed. Today there is one: no SLM key (after
OpenBao lost its store, a revoked key, an empty Secret), which otherwise shows only as one failed
turn after another. /ready reports the same to probes and operators; this is for people.

/v1/status/lockdown says whether the emergency lockdown is on, to anyone (the login page asks it
before anyone types) and even under the lockdown, which refuses every other /v1 request. It reads
this gateway's in-memory copy of the flag (emergency.lockdown.Watch), so the UI's poll of it costs
no query, and it knows of a stop within a second of `soma emergency-stop`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from soma import errors

router = APIRouter(prefix="/v1/status", tags=["status"])

SLM_KEY_MISSING = "slm_key_missing"
LOCKDOWN_PATH = "/v1/status/lockdown"  # public and open under the lockdown (gateway/authn.py, gateway/lockdown_gate.py)
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


class LockdownStatus(BaseModel):
    """Whether the emergency lockdown is on; when it is, `message` says what it means and who can end it."""

    active: bool
    message: str | None


@router.get("/lockdown", response_model=LockdownStatus)
async def get_lockdown(request: Request) -> LockdownStatus:
    """Whether the emergency lockdown is on, from this gateway's copy of the flag (no query); public, and served under the lockdown."""
    flag = getattr(request.app.state, "lockdown", None)
    if flag is not None and flag.active:
        return LockdownStatus(active=True, message=errors.Lockdown().message)
    return LockdownStatus(active=False, message=None)
