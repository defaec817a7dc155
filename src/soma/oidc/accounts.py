"""The Soma account of a person the provider signed in: found by (issuer, subject), created or bound once, its role from the groups claim.

An account is never picked by e-mail alone. In `auto` mode a first login creates a member; in `invite` mode it binds
the account an admin created with that e-mail, only when the provider says the e-mail is verified and the account
is bound to nobody yet. With SOMA_OIDC_ADMIN_GROUPS set, the role follows the groups at every login (a demotion
ends the user's open admin streams); without it Soma's admins manage roles. SOMA_OIDC_ALLOWED_GROUPS, when set,
refuses anyone in none of them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import config, errors
from soma.auth import admin, users
from soma.db import tables

_u = tables.users
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9._@-]+")
NAME_ATTEMPTS = 20  # ann, ann-2 … ann-20, then a random suffix


@dataclass(frozen=True)
class Identity:
    """Who the ID token says signed in."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    groups: frozenset[str]
    names: tuple[str, ...]  # preferred_username, the e-mail, name: candidates for a new account's username

    @classmethod
    def from_claims(cls, claims: dict[str, Any], groups_claim: str) -> Identity:
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        raw = claims.get(groups_claim) or []
        groups = frozenset([raw] if isinstance(raw, str) else [g for g in raw if isinstance(g, str)] if isinstance(raw, list) else [])
        names = tuple(n for n in (claims.get("preferred_username"), email, claims.get("name")) if isinstance(n, str))
        return cls(claims["iss"], str(claims["sub"]), email, claims.get("email_verified") is True, groups, names)


def group_list(spec: str) -> frozenset[str]:
    """SOMA_OIDC_ADMIN_GROUPS or SOMA_OIDC_ALLOWED_GROUPS as a set."""
    return frozenset(g.strip() for g in spec.split(",") if g.strip())


async def sign_in(conn: AsyncConnection, settings: config.Settings, identity: Identity) -> dict[str, Any]:
    """The account to start a session for, created, bound or re-roled as the settings say; refusals raise, changing nothing."""
    allowed = group_list(settings.oidc_allowed_groups)
    if allowed and not allowed & identity.groups:
        raise errors.OIDCNotAllowed()
    actor = admin.Actor(f"oidc:{identity.issuer}")
    user = await _bound(conn, identity)
    if user is None:
        if settings.oidc_provisioning == "invite":
            user = await _bind_invited(conn, actor, identity)
        else:
            user = await _create(conn, actor, identity, _role(settings, identity, "member"))
    if user["disabled_at"] is not None:
        raise errors.Forbidden(f"The Soma account {user['username']!r} is disabled.")
    role = _role(settings, identity, user["role"])
    if role != user["role"]:
        user = {**user, **await admin.change_role(conn, actor, user, role)}
    if identity.email and identity.email != user["email"]:
        await conn.execute(sa.update(_u).where(_u.c.id == user["id"]).values(email=identity.email))
    return user


def _role(settings: config.Settings, identity: Identity, current: str) -> str:
    admins = group_list(settings.oidc_admin_groups)
    if not admins:
        return current  # the provider does not manage roles: Soma's admins do
    return "admin" if admins & identity.groups else "member"


async def _bound(conn: AsyncConnection, identity: Identity) -> dict[str, Any] | None:
    query = sa.select(_u).where(_u.c.oidc_issuer == identity.issuer, _u.c.oidc_subject == identity.subject).with_for_update()
    row = (await conn.execute(query)).one_or_none()
    return dict(row._mapping) if row else None


async def _bind_invited(conn: AsyncConnection, actor: admin.Actor, identity: Identity) -> dict[str, Any]:
    if not identity.email:
        raise errors.OIDCNotInvited("The identity provider gave no e-mail (is `email` among SOMA_OIDC_SCOPES?).")
    if not identity.email_verified:
        raise errors.OIDCEmailUnverified()
    query = sa.select(_u).where(sa.func.lower(_u.c.email) == identity.email.lower(), _u.c.oidc_subject.is_(None), _u.c.password_hash == "")
    row = (await conn.execute(query.with_for_update())).one_or_none()
    if row is None:
        raise errors.OIDCNotInvited()
    await conn.execute(sa.update(_u).where(_u.c.id == row.id).values(oidc_issuer=identity.issuer, oidc_subject=identity.subject))
    await actor.record(conn, "user.sso.bound", row.username, {"issuer": identity.issuer, "subject": identity.subject})
    return {**row._mapping, "oidc_issuer": identity.issuer, "oidc_subject": identity.subject}


async def _create(conn: AsyncConnection, actor: admin.Actor, identity: Identity, role: str) -> dict[str, Any]:
    """A new member (or admin) bound to the identity; the account another gateway made a moment ago for the same first sign-in."""
    username = await _free_username(conn, identity.names)
    values = dict(username=username, password_hash="", role=role, oidc_issuer=identity.issuer, oidc_subject=identity.subject)
    try:
        async with conn.begin_nested():
            row = (await conn.execute(sa.insert(_u).values(values).returning(_u))).one()
    except sa.exc.IntegrityError:  # two first sign-ins at once (two tabs, two gateways): one account, whoever won
        bound = await _bound(conn, identity)
        if bound is None:
            raise
        return bound
    await actor.record(conn, "user.created", username, {"role": role, "method": "oidc", "subject": identity.subject})
    return dict(row._mapping)


async def _free_username(conn: AsyncConnection, names: tuple[str, ...]) -> str:
    """The first candidate made into a valid username that no account has, suffixed -2, -3… when taken."""
    base = next((b for b in (_NOT_IN_NAMES.sub("-", n.split("@")[0]).strip("-._@")[:56] for n in names) if b), "user")
    for n in range(1, NAME_ATTEMPTS + 1):
        candidate = base if n == 1 else f"{base}-{n}"
        if users.USERNAME.fullmatch(candidate) and await users.find(conn, candidate) is None:
            return candidate
    return f"{base}-{secrets.token_hex(4)}"
