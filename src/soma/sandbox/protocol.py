"""The sandbox service's protocol: a run's request, its output and result, as dataclasses and as JSON.

`POST /v1/runs` takes a RunRequest as JSON and answers NDJSON: `output` objects as the run prints,
then one `result`. The service and its client (soma.sandbox.client) both read and write it here,
so the two cannot disagree. Whatever comes from the other side is checked: the service refuses a
bad request naming the field (errors.RunRequestInvalid), the client a bad answer (errors.SandboxBroken).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from soma import errors
from soma.workspaces import paths
from soma.workspaces.paths import path_problem  # one rule for a workspace's names, in the database and in a jail

LANGUAGES = ("python", "shell")
NETWORKS = ("none", "egress")
STREAMS = ("stdout", "stderr")
REASONS = ("timeout", "memory", "workspace_full", "killed", "failed")

OUTPUT_CAP = 64 * 1024  # bytes of each stream sent in all; the rest is read and dropped
MAX_CODE_BYTES = 1024 * 1024  # a program longer than this is not code an SLM wrote
MAX_FILES = 10_000  # files in a workspace, sent or sent back
MAX_PATH_BYTES = paths.PATH_BYTES  # a workspace path in all, UTF-8
MiB = 1024 * 1024
KILL_GRACE = 15  # seconds past a run's timeout for the jail to stop the code and send the workspace back, before it is killed

# (least, default, most) of each limit a request may set: at least the ranges of the agent's settings
# (sandbox_timeout_seconds, sandbox_memory_mb, workspace_max_mb), so no admin's choice is refused here.
TIMEOUT_SECONDS = (1, 60, 3600)
MEMORY_MB = (32, 512, 65536)
WORKSPACE_MB = (1, 100, 10240)
# The largest body taken, read into memory whole: files of about 750 MiB in base64. A chat's workspace
# beyond that cannot be sent in one run (413), whatever its workspace_mb allows.
MAX_BODY_BYTES = 1024 * MiB


@dataclass(frozen=True)
class RunRequest:
    """One run: the code, the chat's whole workspace as (path, bytes), and its limits."""

    language: str
    code: str
    files: list[tuple[str, bytes]] = field(default_factory=list)
    timeout_seconds: int = TIMEOUT_SECONDS[1]
    memory_mb: int = MEMORY_MB[1]
    workspace_mb: int = WORKSPACE_MB[1]
    network: str = "none"


@dataclass(frozen=True)
class Output:
    """Some of what the run printed on one stream, as it printed it."""

    stream: str
    text: str


@dataclass(frozen=True)
class Result:
    """How the run ended, and the workspace files it changed (path, bytes) or deleted, relative to those sent."""

    exit_code: int | None
    reason: str | None
    message: str | None
    stdout_truncated: bool
    stderr_truncated: bool
    duration_ms: float
    changed: list[tuple[str, bytes]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def parse_request(document: Any) -> RunRequest:
    """A RunRequest from the request's JSON; errors.RunRequestInvalid naming the first bad field."""
    if not isinstance(document, dict):
        raise errors.RunRequestInvalid("The body is not a JSON object.")
    unknown = sorted(set(document) - {"language", "code", "files", "timeout_seconds", "memory_mb", "workspace_mb", "network"})
    if unknown:
        raise errors.RunRequestInvalid(f"Unknown field {unknown[0]!r}.")
    language = _choice(document, "language", LANGUAGES, None)
    code = document.get("code")
    if not isinstance(code, str):
        raise errors.RunRequestInvalid("Field 'code' must be a string.")
    if len(code.encode(errors="surrogatepass")) > MAX_CODE_BYTES:
        raise errors.RunRequestInvalid(f"Field 'code' is longer than {MAX_CODE_BYTES} bytes.")
    if "\x00" in code:
        raise errors.RunRequestInvalid("Field 'code' holds a NUL character.")
    request = RunRequest(
        language=language,
        code=code,
        files=_files(document.get("files", [])),
        timeout_seconds=_number(document, "timeout_seconds", TIMEOUT_SECONDS),
        memory_mb=_number(document, "memory_mb", MEMORY_MB),
        workspace_mb=_number(document, "workspace_mb", WORKSPACE_MB),
        network=_choice(document, "network", NETWORKS, "none"),
    )
    total = sum(len(data) for _, data in request.files)
    if total > request.workspace_mb * MiB:
        raise errors.RunRequestTooLarge(f"The files hold {total} bytes, more than workspace_mb={request.workspace_mb}.")
    return request


def _choice(document: dict, name: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = document.get(name, default)
    if value not in allowed:
        raise errors.RunRequestInvalid(f"Field {name!r} is {value!r}; give one of {', '.join(allowed)}.")
    return value


def _number(document: dict, name: str, bounds: tuple[int, int, int]) -> int:
    least, default, most = bounds
    value = document.get(name, default)
    if type(value) is not int or not least <= value <= most:  # bool is an int subclass: not a limit
        raise errors.RunRequestInvalid(f"Field {name!r} is {value!r}; give a whole number from {least} to {most}.")
    return value


def _files(value: Any) -> list[tuple[str, bytes]]:
    if not isinstance(value, list):
        raise errors.RunRequestInvalid("Field 'files' must be a list of {path, data}.")
    if len(value) > MAX_FILES:
        raise errors.RunRequestInvalid(f"Field 'files' holds {len(value)} files; at most {MAX_FILES}.")
    files: list[tuple[str, bytes]] = []
    taken: set[str] = set()  # the paths given so far
    directories: set[str] = set()  # the directories they make
    for index, item in enumerate(value):
        where = f"files[{index}]"
        if not isinstance(item, dict) or set(item) != {"path", "data"}:
            raise errors.RunRequestInvalid(f"Field {where!r} must be an object with exactly 'path' and 'data'.")
        path, data = item["path"], item["data"]
        problem = path_problem(path) if isinstance(path, str) else "is not a string"
        if problem:
            raise errors.RunRequestInvalid(f"Field '{where}.path' {path!r} {problem}.")
        parents = {path.rsplit("/", depth)[0] for depth in range(1, path.count("/") + 1)}
        if path in taken or path in directories or parents & taken:
            raise errors.RunRequestInvalid(f"Field '{where}.path' {path!r} is given twice, or as both a file and a directory.")
        taken.add(path)
        directories |= parents
        try:
            files.append((path, base64.b64decode(data, validate=True)))
        except (TypeError, ValueError, binascii.Error):
            raise errors.RunRequestInvalid(f"Field '{where}.data' is not base64.") from None
    return files


def request_document(request: RunRequest) -> dict[str, Any]:
    """The JSON body of `POST /v1/runs` for a request."""
    return {
        "language": request.language,
        "code": request.code,
        "files": [{"path": path, "data": base64.b64encode(data).decode()} for path, data in request.files],
        "timeout_seconds": request.timeout_seconds,
        "memory_mb": request.memory_mb,
        "workspace_mb": request.workspace_mb,
        "network": request.network,
    }


def output_line(output: Output) -> bytes:
    """One NDJSON line for some output."""
    return json.dumps({"type": "output", "stream": output.stream, "text": output.text}).encode() + b"\n"


BASE64_CHUNK = 3 * 64 * 1024  # bytes encoded at a time: a multiple of 3, so the pieces join into one base64 text


def result_lines(result: Result) -> Iterator[bytes]:
    """The result's NDJSON line in pieces: the files' base64 is written as it is encoded, never whole in memory twice."""
    head = {key: getattr(result, key) for key in ("exit_code", "reason", "message", "stdout_truncated", "stderr_truncated")}
    yield json.dumps({"type": "result", **head, "duration_ms": round(result.duration_ms, 1)}).encode()[:-1]
    yield b', "changed": ['
    for index, (path, data) in enumerate(result.changed):
        meta = json.dumps({"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        yield (b", " if index else b"") + meta.encode()[:-1] + b', "data": "'
        for start in range(0, len(data), BASE64_CHUNK):
            yield base64.b64encode(data[start : start + BASE64_CHUNK])
        yield b'"}'
    yield b'], "deleted": ' + json.dumps(result.deleted).encode() + b"}\n"


def parse_event(document: Any) -> Output | Result:
    """An Output or Result from one line of the service's answer; errors.SandboxBroken for anything else."""
    try:
        if document["type"] == "output" and document["stream"] in STREAMS and isinstance(document["text"], str):
            return Output(document["stream"], document["text"])
        if document["type"] == "result":
            return _result(document)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise errors.SandboxBroken(f"A line of its answer is malformed ({type(exc).__name__}: {exc}).") from exc
    raise errors.SandboxBroken(f"A line of its answer is neither output nor a result: {str(document)[:200]!r}.")


def _result(document: dict) -> Result:
    changed = []
    for item in document["changed"]:
        data = base64.b64decode(item["data"], validate=True)
        if len(data) != item["size"] or hashlib.sha256(data).hexdigest() != item["sha256"]:
            raise ValueError(f"file {item['path']!r} does not match its size and sha256")
        changed.append((_clean(item["path"]), data))
    reason = document["reason"]
    if reason is not None and reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    exit_code = document["exit_code"]
    if exit_code is not None and type(exit_code) is not int:
        raise ValueError(f"exit_code {exit_code!r}")
    return Result(
        exit_code=exit_code,
        reason=reason,
        message=document["message"],
        stdout_truncated=bool(document["stdout_truncated"]),
        stderr_truncated=bool(document["stderr_truncated"]),
        duration_ms=float(document["duration_ms"]),
        changed=changed,
        deleted=[_clean(path) for path in document["deleted"]],
    )


def _clean(path: Any) -> str:
    problem = path_problem(path) if isinstance(path, str) else "is not a string"
    if problem:
        raise ValueError(f"path {path!r} {problem}")
    return path
