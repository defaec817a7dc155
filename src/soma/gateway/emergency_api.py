"""POST /v1/emergency-stop: an admin takes Soma dark from the UI or the API, with a typed confirmation.

Only the CLI lifts the lockdown (`soma emergency-stop --lift`): once it is on, the API answers nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from soma import errors
from soma.auth import admin
from soma.emergency import stop
from soma.gateway import access, bodies

router = APIRouter(tags=["emergency"], dependencies=[Depends(access.require_admin)])

CONFIRMATION = "STOP"


class StopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: bodies.Text = Field(min_length=1, max_length=2000, description="Why; kept in the audit log and the incident report.")
    confirm: str = Field(description=f"Must be {CONFIRMATION!r}.")
    revoke_slm_key: bool = Field(False, description="Also delete the SLM key's current version in Vault.")


@router.post("/v1/emergency-stop")
async def emergency_stop(request: Request, body: StopRequest) -> dict[str, Any]:
    """Run every step of the emergency stop; 200 with the incident report, `ok` false naming failed steps.

    The caller's own key or login is revoked with all the others, and from now on the API answers 503 lockdown.
    """
    if body.confirm != CONFIRMATION:
        raise errors.EmergencyNotConfirmed(f"`confirm` is {body.confirm!r}, not {CONFIRMATION!r}.")
    actor = admin.Actor(access.principal(request).actor, access.client_address(request))
    state = request.app.state
    report = await stop.stop(state.engine, state.settings, body.reason.strip(), actor, body.revoke_slm_key)
    return report.as_dict()
