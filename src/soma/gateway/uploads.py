"""Receiving one file of a multipart/form-data body as a stream, so no upload is ever held in memory."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from soma import errors

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILENAME_CHARS = 255  # characters kept of an uploaded file's name


@dataclass(frozen=True)
class Received:
    """The file part's name and the content type the client declared for it."""

    filename: str
    content_type: str | None


async def receive(
    request: Request, field: str, write: Callable[[bytes], Awaitable[None]], accept: Callable[[Received], None]
) -> Received:
    """Stream the file in multipart field `field` into write(), awaited per part; the other fields are skipped.

    accept() sees the file's name and type before any of its bytes, and may refuse it by raising.
    A body without the file, or that is not multipart, is RequestValidationError (422); a client
    gone before the end of the body is UploadCutOff.
    """
    media, options = parse_options_header(request.headers.get("content-type"))
    if media != b"multipart/form-data" or not options.get(b"boundary"):
        raise _invalid("body", f"send the file as multipart/form-data, in the field '{field}'")
    parts = _Parts(field)
    parser = MultipartParser(options[b"boundary"], parts.callbacks())
    accepted = False
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if parts.received and not accepted:
                accept(parts.received)  # before its first byte is written
                accepted = True
            if parts.data:
                data = b"".join(parts.data)
                parts.data.clear()
                await write(data)
        parser.finalize()
    except FormParserError as exc:
        raise _invalid("body", f"the multipart/form-data body is malformed ({exc})") from exc
    except ClientDisconnect as exc:
        raise errors.UploadCutOff(f"The connection closed after {parts.size} bytes of the file.") from exc
    if parts.received is None or not parts.complete:
        raise _invalid(field, "Field required")
    return parts.received


def clean_filename(raw: str) -> str:
    """The name an upload is listed under: its last path component, without control characters."""
    name = PureWindowsPath(PurePosixPath(raw).name).name  # browsers and curl may send a whole path
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:FILENAME_CHARS] or "upload"


class _Parts:
    """Collects the parser's callbacks: each part's headers, and the data of the wanted file."""

    def __init__(self, field: str) -> None:
        self.field = field.encode()
        self.received: Received | None = None
        self.data: list[bytes] = []  # file bytes parsed but not yet written
        self.size = 0  # file bytes parsed so far
        self.complete = False
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._in_file = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_part,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        if options.get(b"name") != self.field or not options.get(b"filename"):
            return  # another field, or an empty file input: skipped
        if self.received is not None:
            raise _invalid(self.field.decode(), "send one file per request")
        declared = self._headers.get(b"content-type")
        self.received = Received(
            filename=options[b"filename"].decode("utf-8", errors="replace"),
            content_type=declared.decode("latin-1") if declared else None,
        )
        self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.data.append(data[start:end])
            self.size += end - start

    def _part_end(self) -> None:
        if self._in_file:
            self.complete = True
        self._in_file = False


def _invalid(where: str, problem: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", where), "msg": problem, "type": "value_error"}])
