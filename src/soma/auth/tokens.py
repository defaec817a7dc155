"""Random bearer secrets and how they are stored: only a SHA-256 digest, never the secret.

A fast digest is enough: every secret here carries 256 random bits, so there is nothing to
brute-force, unlike passwords (see passwords.py).
"""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "soma_"  # recognisable in logs, configs and secret scanners
PREFIX_SHOWN = 12  # characters of a key kept in clear, to tell keys apart in lists


def new_api_key() -> str:
    """`soma_` plus 256 random bits, URL-safe."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_token() -> str:
    """A session cookie value, CSRF token or setup token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the database stores in place of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def shown_prefix(key: str) -> str:
    """The part of a key that may be shown, e.g. `soma_Ab3dE6g…`."""
    return key[:PREFIX_SHOWN]
