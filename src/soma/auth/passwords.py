"""Passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommendation), and what counts as acceptable."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from soma import errors

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing a megabyte-long "password" is a cheap denial of service

_hasher = PasswordHasher()  # argon2id
# Verifying an unknown user's password against this keeps the time the same as for a known one. It
# is the hash of a random string nobody kept, made with _hasher's parameters (tests/auth checks they
# still match): hashing a decoy at import cost every Soma process 0.2 s of CPU before it did anything.
DECOY = "$argon2id$v=19$m=65536,t=3,p=4$ugVhD9hzavKEfrW6OL4z0g$XZk1swYhFCJHeaUXmZcoHcwNI/h+ketKrcxJoIgtMCE"


def check_acceptable(password: str) -> None:
    """WeakPassword or PasswordTooLong, naming the limit."""
    if len(password) < MIN_LENGTH:
        raise errors.WeakPassword(f"The password has {len(password)} characters; at least {MIN_LENGTH} are needed.")
    if len(password) > MAX_LENGTH:
        raise errors.PasswordTooLong(f"The password has more than {MAX_LENGTH} characters.")


def hash_password(password: str) -> str:
    """An argon2id PHC string."""
    check_acceptable(password)
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """True when the password matches; takes as long for a missing user as for a wrong password."""
    try:
        return _hasher.verify(password_hash or DECOY, password[:MAX_LENGTH]) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
