"""/v1/profiles: the agent profiles chats, tasks and `delegate` run with; admins manage them, everyone signed in reads them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.audit import log as audit
from soma.gateway import access, openapi
from soma.profiles import store

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])

Name = Annotated[str, Path(pattern=f"^{store.NAME.pattern}$", description="Lower-case letters, digits, - and _, at most 40.")]

# The body is read as it came so store.parse can name every bad field at once; documented as what it holds.
PROFILE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": store.Profile.model_json_schema()}}}}


class ProfileList(BaseModel):
    profiles: list[store.Profile]


@router.get("", response_model=ProfileList)
async def list_profiles(request: Request) -> dict[str, Any]:
    """Every agent profile, by name."""
    async with request.app.state.engine.connect() as conn:
        return {"profiles": await store.list_all(conn)}


@router.get("/{name}", response_model=store.Profile, responses=openapi.raises(errors.ProfileNotFound))
async def get_profile(request: Request, name: Name) -> store.Profile:
    """One agent profile."""
    async with request.app.state.engine.connect() as conn:
        return await store.get(conn, name)


@router.post(
    "", status_code=201, response_model=store.Profile, dependencies=[Depends(access.require_admin)],
    openapi_extra=PROFILE_BODY, responses=openapi.raises(errors.ProfileExists, errors.InvalidProfile),
)  # fmt: skip
async def create_profile(request: Request, body: Any = Body(...)) -> store.Profile:
    """Add a profile (admins only); a taken name is 409, a bad field 422 naming it."""
    profile = store.parse(body)
    async with request.app.state.engine.begin() as conn:
        await store.create(conn, profile)
        await _audit(conn, request, "profile.created", profile.name)
    return profile


@router.put(
    "/{name}", response_model=store.Profile, dependencies=[Depends(access.require_admin)],
    openapi_extra=PROFILE_BODY, responses=openapi.raises(errors.ProfileNotFound, errors.InvalidProfile),
)  # fmt: skip
async def replace_profile(request: Request, name: Name, body: Any = Body(...)) -> store.Profile:
    """Change every field of a profile but its name (admins only): a field left out takes its default. The body's `name` may be left out."""
    profile = store.parse({"name": name, **body} if isinstance(body, dict) else body)
    async with request.app.state.engine.begin() as conn:
        await store.replace(conn, name, profile)
        await _audit(conn, request, "profile.updated", name)
    return profile


@router.delete(
    "/{name}", status_code=204, dependencies=[Depends(access.require_admin)],
    responses=openapi.raises(errors.ProfileNotFound, errors.ProfileInUse),
)  # fmt: skip
async def delete_profile(request: Request, name: Name) -> Response:
    """Delete a profile (admins only); 409 while scheduled tasks run with it. Its chats go on with the settings alone."""
    async with request.app.state.engine.begin() as conn:
        await store.delete(conn, name)
        await _audit(conn, request, "profile.deleted", name)
    return Response(status_code=204)


async def _audit(conn: AsyncConnection, request: Request, action: str, name: str) -> None:
    await audit.record(conn, action, access.principal(request).actor, name, {}, access.client_address(request))
