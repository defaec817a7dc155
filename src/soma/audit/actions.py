"""Every action the audit log records, in one catalogue: audit.log.record refuses any other, and GET /v1/meta lists them for the Admin page's filter.

Grouped as docs/security.md's table lists them (tests/test_docs.py checks that every one is there).
An act gains an audit entry by adding its action here first.
"""

from __future__ import annotations

ACTIONS = (
    "auth.login.succeeded",
    "auth.login.failed",
    "auth.login",  # single sign-on, or a break-glass admin's password while local login is off (`method`)
    "auth.login.refused",  # a person the provider signed in whom Soma refused
    "auth.logout",
    "auth.password.changed",
    "auth.setup.completed",
    "user.created",
    "user.disabled",
    "user.enabled",
    "user.role.changed",
    "user.password.reset",
    "user.invited",
    "user.sso.bound",
    "key.created",
    "key.revoked",
    "key.revoked_all",
    "settings.updated",
    "profile.created",
    "profile.updated",
    "profile.deleted",
    "session.deleted",
    "tool.allowed",
    "tool.denied",
    "tools.server.updated",
    "tools.server.removed",
    "tools.servers.replaced",
    "tools.tool.updated",
    "slm.key.rotated",
    "tunnel.enabled",
    "tunnel.disabled",
    "backup.created",
    "backup.restored",
    "backup.restore.discarded",
    "emergency.stop",
    "emergency.lift",
)
