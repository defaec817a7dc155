"""Who is asking: a logged-in user or an API key, and what that allows."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"
CHAT = "chat"
METRICS = "metrics"
SCOPES = (ADMIN, CHAT, METRICS)
ROLES = ("admin", "member")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    kind: str  # "user" or "key"
    id: int
    name: str  # username, or the key's name
    scopes: frozenset[str]  # a user: admin+chat or chat; a key: what it was created with
    session_id: int | None = None  # the login session, when authenticated by cookie
    csrf_token: str | None = None

    @property
    def owner(self) -> str:
        """How chats record who they belong to."""
        return f"{self.kind}:{self.id}"

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.scopes

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.kind}:{self.name}"

    def may(self, scope: str) -> bool:
        """Admin may do everything; otherwise the scope must have been granted."""
        return self.is_admin or scope in self.scopes


def user_scopes(role: str) -> frozenset[str]:
    return frozenset({ADMIN, CHAT}) if role == "admin" else frozenset({CHAT})
