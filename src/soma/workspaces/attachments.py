"""The files a message carries: their limits, and what its turn reads of each, within a budget of characters.

Every attached file lands in the chat's workspace, where the agent's code can open it whole. The
text of a text-like file (valid UTF-8 without NUL, under a text file's name or declared as text)
and of a PDF also goes into the turn, so the SLM reads it with the question: at most FILE_CHARS of
each and MESSAGE_CHARS in all, with a note where it was cut. What the turn reads is decided once,
when the message is posted, and kept in the message's `meta.attachments`: a turn run again (a
retry, a regenerated answer) reads the same, whatever the code has done to the files since.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from soma import errors
from soma.knowledge import parsers
from soma.workspaces import paths

MiB = 1024 * 1024
MAX_FILES = 20  # files one message carries
MAX_FILE_BYTES = 25 * MiB  # one attached file
MAX_BYTES = 50 * MiB  # all the files of one message together
FILE_CHARS = 4000  # characters of one file's text its turn reads (about 1,000 tokens)
MESSAGE_CHARS = 12000  # characters of all the message's files' text its turn reads

PDF_SIGNATURE = b"%PDF-"
PDF_SIGNATURE_WITHIN = 1024  # bytes: readers accept a PDF whose header comes after some junk
# Names of files that are text, whatever type the client declared (browsers often send none, or octet-stream).
TEXT_SUFFIXES = frozenset({
    ".txt", ".text", ".md", ".markdown", ".rst", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".xml", ".html", ".htm",
    ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env", ".log", ".sql", ".py", ".ipynb", ".r", ".js", ".mjs", ".ts",
    ".tsx", ".jsx", ".css", ".sh", ".bash", ".c", ".h", ".cpp", ".hpp", ".java", ".kt", ".go", ".rs", ".rb", ".php", ".pl",
    ".swift", ".scala", ".lua", ".tex", ".bib", ".srt", ".vtt", ".diff", ".patch",
})  # fmt: skip
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-yaml", "application/sql")

BUDGET_USED = "Not shown: the message's earlier files used up the text a turn reads."


@dataclass(frozen=True)
class Attached:
    """One file as it arrived: the name it was sent under (its path in the workspace) and its bytes."""

    path: str
    data: bytes
    declared: str | None = None  # the content type the client declared, if any


def check(files: Sequence[Attached]) -> None:
    """Refuse the message's files unless each has a clean path of its own and they are within the limits.

    InvalidPath, DuplicateAttachment, TooManyAttachments, AttachmentTooLarge or AttachmentsTooLarge,
    each naming the file or the count and the limit.
    """
    if len(files) > MAX_FILES:
        raise errors.TooManyAttachments(f"The message carries {len(files)} files; at most {MAX_FILES} are allowed.")
    named: set[str] = set()
    for file in files:
        paths.clean(file.path)
        if file.path in named:
            raise errors.DuplicateAttachment(f"Two files of the message are named {file.path!r}.")
        named.add(file.path)
        if len(file.data) > MAX_FILE_BYTES:
            raise errors.AttachmentTooLarge(f"The file {file.path!r} has {len(file.data)} bytes; at most {MAX_FILE_BYTES} are allowed.")
    total = sum(len(file.data) for file in files)
    if total > MAX_BYTES:
        raise errors.AttachmentsTooLarge(f"The message's {len(files)} files have {total} bytes together; at most {MAX_BYTES} are allowed.")


async def prepare(files: Sequence[Attached]) -> list[dict[str, Any]]:
    """`check` the files, then `describe` them in a thread (decoding and reading PDFs take CPU): what a message records of them."""
    check(files)
    return await asyncio.to_thread(describe, files)


def describe(files: Sequence[Attached]) -> list[dict[str, Any]]:
    """What the message's `meta.attachments` records of each file, in order, with the text its turn reads.

    Each: path, size (bytes), sha256, type (`text`, `pdf` or `file`), excerpt (the text the turn
    reads, or null), cut (true when the file's text goes on past the excerpt) and note (why a text
    or PDF has no excerpt, or null). Decoding and PDF extraction take CPU: call it in a thread.
    """
    left = MESSAGE_CHARS
    described = []
    for file in files:
        kind = _kind(file)
        excerpt, cut, note = None, False, None
        if kind != "file" and left == 0:
            note = BUDGET_USED
        elif kind != "file":
            excerpt, cut, note = _excerpt(file.data, kind, min(FILE_CHARS, left))
            left -= len(excerpt or "")
        described.append({
            "path": file.path, "size": len(file.data), "sha256": hashlib.sha256(file.data).hexdigest(),
            "type": kind, "excerpt": excerpt, "cut": cut, "note": note,
        })  # fmt: skip
    return described


def _kind(file: Attached) -> str:
    """`pdf` for a PDF (by its signature, named or declared so), `text` for text-like content, else `file`."""
    suffix = PurePosixPath(file.path).suffix.lower()
    declared = (file.declared or "").split(";")[0].strip().lower()
    if (suffix == ".pdf" or declared == "application/pdf") and PDF_SIGNATURE in file.data[:PDF_SIGNATURE_WITHIN]:
        return "pdf"
    if (suffix in TEXT_SUFFIXES or not suffix or declared.startswith(TEXT_TYPES)) and _text(file.data) is not None:
        return "text"
    return "file"


def _text(data: bytes) -> str | None:
    """The bytes as text, when they are UTF-8 (a byte order mark dropped) without NUL; None for anything else."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _excerpt(data: bytes, kind: str, limit: int) -> tuple[str | None, bool, str | None]:
    """(excerpt of at most limit characters, whether the text goes on, note) of a text file or a PDF."""
    if kind == "text":
        text = _text(data) or ""
        return text[:limit], len(text) > limit, None
    read = ""
    try:
        for page in parsers.pdf_pages(data):  # pages only until the excerpt is full: a long PDF costs no more
            if page.strip():
                read += ("\n\n" if read else "") + page.strip()
            if len(read) > limit:
                break
    except errors.ParseError as exc:
        return None, False, exc.detail
    if not read.strip():
        return None, False, "The PDF has no text to extract; scanned pages need OCR first."
    return read[:limit], len(read) > limit, None
