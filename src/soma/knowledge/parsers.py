"""Plain text out of a knowledge file, per type: text, Markdown, HTML, PDF, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from soma import errors

if TYPE_CHECKING:
    import pypdf

log = logging.getLogger(__name__)

# The types Soma reads: canonical content type → the file name extensions that mean it.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "text/plain": (".txt", ".text"),
    "text/markdown": (".md", ".markdown"),
    "text/html": (".html", ".htm"),
    "application/pdf": (".pdf",),
    "text/csv": (".csv",),
    "application/json": (".json",),
}
# Other names clients use for the same types.
_ALIASES = {"text/x-markdown": "text/markdown", "application/xhtml+xml": "text/html", "application/x-pdf": "application/pdf"}

# Elements whose text is not content; the others' text is kept.
_HIDDEN_TAGS = ("script", "style", "noscript", "template")
# Elements that end a paragraph, so their text does not run into the next one's.
_BLOCK_TAGS = (
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
    "td", "th", "title", "tr", "ul",
)


def content_type_for(filename: str, declared: str | None) -> str:
    """The canonical content type of an upload, by its extension first, then the type the client declared.

    UnsupportedFileType when neither names a type Soma reads.
    """
    suffix = PurePath(filename).suffix.lower()
    for content_type, extensions in EXTENSIONS.items():
        if suffix in extensions:
            return content_type
    media = (declared or "").split(";")[0].strip().lower()
    media = _ALIASES.get(media, media)
    if media in EXTENSIONS:
        return media
    raise errors.UnsupportedFileType(f"'{filename}' ({declared or 'no content type'}) is not a type Soma reads.")


def extract(data: bytes, content_type: str) -> str:
    """The text of a file's bytes; ParseError, with the reason, when they cannot be read as its type."""
    return _PARSERS[content_type](data)


def _text(data: bytes) -> str:
    return _decode(data, "text")


def _decode(data: bytes, kind: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.ParseError(
            f"The {kind} file is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded."
        ) from exc


# bs4 and pypdf are imported where a file is read: only the worker reads files, and importing them
# cost every gateway and `soma` command 0.3 s of CPU at start.
def _html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")  # bytes: bs4 finds the encoding from the markup
    for tag in soup.find_all(_HIDDEN_TAGS):
        tag.decompose()
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_after("\n\n")
    return soup.get_text()


def _pdf(data: bytes) -> str:
    pages = list(pdf_pages(data))
    text = "\n\n".join(pages)
    if not text.strip():
        raise errors.ParseError(f"The PDF has no text to extract in its {len(pages)} page(s); scanned pages need OCR first.")
    return text


def pdf_pages(data: bytes) -> Iterator[str]:
    """The text of each page of a PDF, in order, extracted as it is asked for; ParseError when the file cannot be read."""
    import pypdf

    # pypdf raises many kinds of exception on malformed files, so any failure to read is the file's.
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _decrypts_without_password(reader):
            raise errors.ParseError("The PDF is encrypted with a password.")
        for page in reader.pages:
            yield page.extract_text() or ""
    except errors.ParseError:
        raise
    except Exception as exc:
        raise errors.ParseError(f"The PDF cannot be read; it is damaged or not a PDF ({exc}).") from exc


def _decrypts_without_password(reader: pypdf.PdfReader) -> bool:
    try:
        return bool(reader.decrypt(""))  # many PDFs are encrypted only against editing, with an empty password
    except Exception:  # an unsupported cipher is as unreadable as a wrong password
        log.info("could not decrypt a PDF with the empty password", exc_info=True)
        return False


def _csv(data: bytes) -> str:
    text = _decode(data, "CSV")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel  # one column, or too little to tell: plain commas
    try:
        rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise errors.ParseError(f"The CSV file cannot be read: {exc}.") from exc
    if not rows:
        return ""
    header, records = rows[0], rows[1:]
    if not records:
        return "\n".join(header)
    return "\n\n".join(_record(header, record) for record in records)


def _record(header: list[str], record: list[str]) -> str:
    names = header + [f"column {n}" for n in range(len(header) + 1, len(record) + 1)]
    return "\n".join(f"{name}: {value}" for name, value in zip(names, record) if value.strip())


def _json(data: bytes) -> str:
    text = _decode(data, "JSON")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.ParseError(f"The JSON file is not valid: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from exc
    if isinstance(data, dict):
        parts = ("\n".join(_flatten(value, str(key))) for key, value in data.items())
    elif isinstance(data, list):
        parts = ("\n".join(_flatten(value, f"[{n}]")) for n, value in enumerate(data))
    else:
        parts = iter([_scalar(data)])
    return "\n\n".join(part for part in parts if part)  # a blank line between top-level entries


def _flatten(value: Any, path: str) -> Iterator[str]:
    """`path: value` lines, one per scalar: `users[0].name: Ada`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _flatten(item, f"{path}[{n}]")
    else:
        yield f"{path}: {_scalar(value)}"


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


_PARSERS: dict[str, Callable[[bytes], str]] = {
    "text/plain": _text,
    "text/markdown": _text,
    "text/html": _html,
    "application/pdf": _pdf,
    "text/csv": _csv,
    "application/json": _json,
}
