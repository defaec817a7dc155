"""Content-Disposition for the files the gateway serves (RFC 6266): the name as it is when it is plain, else in its UTF-8 form."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote


def header(filename: str, kind: Literal["attachment", "inline"] = "attachment") -> str:
    """`attachment; filename="name"` for a name of letters, digits and `-._~`; `filename*=utf-8''…` (percent-encoded) otherwise.

    Anything else in a quoted name (a quote, a backslash, a `%`, a `;`, a non-ASCII letter) is
    read differently by different browsers; percent-encoded, it cannot break out of the header.
    """
    quoted = quote(filename, safe="")
    return f'{kind}; filename="{filename}"' if quoted == filename else f"{kind}; filename*=utf-8''{quoted}"
