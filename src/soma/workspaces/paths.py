"""The names of a chat's files: one canonical, relative POSIX form, or InvalidPath naming what is wrong.

A path is stored, listed and served exactly as `clean` returns it, so one file never has two names
and no name can leave the workspace when the sandbox writes it to disk: no leading `/`, no `.` or
`..` part, no empty part (`a//b`, a trailing `/`). Control characters are refused because they
deceive in a listing or a download's name (a newline, an escape sequence, a right-to-left mark), and lone surrogates
because they have no UTF-8 form for PostgreSQL to store. The byte limits are Linux's for a name
(NAME_MAX) and a comfortable bound for a whole path.
"""

from __future__ import annotations

import unicodedata

from soma import errors

PART_BYTES = 255  # bytes of UTF-8 in one part of a path (Linux's NAME_MAX)
PATH_BYTES = 1024  # bytes of UTF-8 in a whole path
SHOWN_CHARS = 80  # characters of a refused path quoted in the error


def clean(path: str) -> str:
    """`path` once it is a valid workspace path (it is returned unchanged); InvalidPath naming the problem otherwise."""
    problem = path_problem(path)
    if problem is not None:
        raise errors.InvalidPath(f"The path {_shown(path)} {problem}.")
    return path


def path_problem(path: str) -> str | None:
    """What is wrong with path, or None: the rule the sandbox service applies to what it is sent and what a jail sends back."""
    if not path:
        return "is empty"
    if any(_is_control(c) for c in path):
        return "holds a control character"
    if any("\ud800" <= c <= "\udfff" for c in path):
        return "holds a character with no UTF-8 form"
    if len(path.encode()) > PATH_BYTES:
        return f"has {len(path.encode())} bytes; at most {PATH_BYTES} are allowed"
    if path.startswith("/"):
        return "starts with /: give it relative to the chat's files"
    for part in path.split("/"):
        if part == "":
            return "has an empty part (// or a / at its end)"
        if part in (".", ".."):
            return f"has a {part!r} part"
        if len(part.encode()) > PART_BYTES:
            return f"has a part of {len(part.encode())} bytes; at most {PART_BYTES} are allowed"
    return None


# Marks that reorder the text around them: "\u202egnp.exe" shows as "exe.png" in a listing or a save dialog.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS


def _shown(path: str) -> str:
    """The path quoted for an error, control characters as escapes (repr() leaves the bidi marks as they are); a long one is cut."""
    quoted = repr(path) if len(path) <= SHOWN_CHARS else repr(path[:SHOWN_CHARS]) + "…"
    return "".join(f"\\u{ord(c):04x}" if c in _BIDI_CONTROLS else c for c in quoted)


def name(path: str) -> str:
    """The last part of a clean path: the file's own name."""
    return path.rsplit("/", 1)[-1]
