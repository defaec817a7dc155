"""Spelling one PostgreSQL URL for SQLAlchemy and for plain psycopg."""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://")


def for_sqlalchemy(url: str) -> str:
    """The URL with the psycopg 3 driver SQLAlchemy must use."""
    return _SCHEME.sub("postgresql+psycopg://", url, count=1)


def for_libpq(url: str) -> str:
    """The URL as libpq (psycopg, procrastinate, psql) reads it."""
    return _SCHEME.sub("postgresql://", url, count=1)


def redacted(url: str) -> str:
    """The URL with any password hidden, for logs and messages."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
