"""Which requests a restore guards: the writes to what it replaces (the lock itself is soma.db.restore_lock)."""

from __future__ import annotations

import re

# The API paths whose writes a restore would overwrite (admin, auth and restores themselves stay open).
GUARDED_PATHS = (
    "/v1/sessions", "/v1/memories", "/v1/knowledge", "/v1/settings", "/v1/profiles", "/v1/tools", "/v1/tasks", "/v1/chat/completions",
)  # fmt: skip
# Writes that check restore_lock.OPEN in their own statement: posting a message (messages.post_user_message).
CHECKED_INSIDE = re.compile(r"/v1/sessions/[^/]+/messages")


def guards(method: str, path: str) -> bool:
    """Whether a request would change what a restore replaces, and does not check the restore lock itself."""
    if method == "POST" and CHECKED_INSIDE.fullmatch(path):
        return False
    return method not in ("GET", "HEAD", "OPTIONS") and path.startswith(GUARDED_PATHS)
