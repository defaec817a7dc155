"""The body of POST /v1/sessions/{id}/messages: JSON `{"content"}`, or multipart/form-data with `content` and `files`.

The route reads its body itself, since FastAPI reads a declared body as JSON only; a JSON body is
refused exactly as FastAPI would refuse it (422 naming the field). The multipart form is parsed by
Starlette (each file spooled to a temporary file past 1 MiB) within the body limit that
limits.BodyLimit counts for this path; its files are then read into memory, which that limit bounds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from soma import errors
from soma.gateway import limits
from soma.workspaces import attachments

CONTENT = "content"  # the form field of the message's text
FILES = "files"  # the form field of each attached file
MAX_PARTS = 1000  # form parts Starlette parses before refusing: far more than MAX_FILES, so the limit is ours to name


@dataclass(frozen=True)
class Posted:
    """A posted message: its text and the files it carries (none for JSON)."""

    content: str
    files: list[attachments.Attached] = field(default_factory=list)


def is_multipart(request: Request) -> bool:
    """Whether the body is declared as multipart/form-data."""
    media, _options = parse_options_header(request.headers.get("content-type"))
    return media == b"multipart/form-data"


async def read(request: Request, model: type[BaseModel], max_chars: int) -> Posted:
    """The message: a JSON body checked as `model` (which has `content`), or the multipart form with its files.

    A multipart message with files may have empty text; without files it needs text as JSON does.
    """
    if not is_multipart(request):
        return Posted(_parsed(await _json(request), model).content)
    _media, options = parse_options_header(request.headers.get("content-type"))
    if not options.get(b"boundary"):
        raise _invalid("body", "the multipart/form-data content type names no boundary")
    try:
        form = await request.form(max_files=MAX_PARTS, max_fields=MAX_PARTS, max_part_size=limits.max_body_bytes(max_chars))
    except HTTPException as exc:  # Starlette's 400 for a form it cannot parse
        raise _invalid("body", f"the multipart/form-data body is malformed ({exc.detail})") from None
    except ClientDisconnect:
        raise errors.UploadCutOff("The connection closed before the whole message arrived.") from None
    try:
        unknown = sorted({key for key in form.keys() if key not in (CONTENT, FILES)})
        if unknown:
            raise _invalid(unknown[0], "Extra inputs are not permitted")
        files = [await _file(part) for part in form.getlist(FILES)]
        content = form.get(CONTENT)
        if not isinstance(content, str | None):
            raise _invalid(CONTENT, "send the message's text as a plain form field, not a file")
    finally:
        await form.close()  # the spooled temporary files
    if files and not (content or "").strip():
        return Posted("", files)
    return Posted(_parsed({} if content is None else {CONTENT: content}, model).content, files)


async def _file(part: UploadFile | str) -> attachments.Attached:
    if not isinstance(part, UploadFile):
        raise _invalid(FILES, "send each file as a file part, with its file name")
    return attachments.Attached(part.filename or "", await part.read(), part.content_type)


async def _json(request: Request) -> Any:
    """The JSON body, refused as FastAPI refuses a body that is missing, of another type, or not JSON."""
    declared = request.headers.get("content-type")
    media, _options = parse_options_header(declared)
    if declared and not (media == b"application/json" or media.endswith(b"+json")):
        raise _invalid("body", "send the message as application/json, or as multipart/form-data with its files")
    body = await request.body()
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        return json.loads(body)
    except ValueError:  # UnicodeDecodeError too
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]) from None


def _parsed(data: Any, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]) from None


def _invalid(where: str, problem: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", where), "msg": problem, "type": "value_error"}])
