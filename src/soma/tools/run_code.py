"""The `run_code` tool: Python or shell in the sandbox service, over the chat's workspace.

A run sends the chat's files to the sandbox (soma.sandbox), streams what the code prints into the
chat as `tool.output` events, and writes the files it changed back to the workspace in one
transaction before its result is recorded. The SLM reads the exit status, the output (cut to
SLM_OUTPUT_CHARS per stream) and the files changed. Runs of one turn go one at a time, so two
calls in one step never write the workspace over each other.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.db import restore_lock
from soma.sandbox.protocol import Output, Result, RunRequest
from soma.settings.store import AgentSettings
from soma.tools import builtins
from soma.tools.registry import CallContext, ToolResult
from soma.tools.sandbox_status import Watch
from soma.workspaces import store as workspace

LANGUAGES = ("python", "shell")
SLM_OUTPUT_CHARS = 8000  # of each stream, in the text the SLM reads: the head and the tail, the middle cut
_RESTORE_OPEN = sa.text(f"SELECT {restore_lock.OPEN}")  # held shared until the write-back commits: no restore begins under it
_REASONS = {
    "timeout": "it ran past its {timeout} s limit and was killed",
    "memory": "it ran out of memory (limit {memory} MiB) and was killed",
    "workspace_full": "the workspace is full (limit {workspace} MiB); files past the limit were not written",
    "killed": "it was killed",
    "failed": "the sandbox could not run it",
}


class RunCode:
    """run_code for one turn: the sandbox, the database, and the turn's settings."""

    spec = builtins.RUN_CODE

    def __init__(self, engine: AsyncEngine, sandbox: Watch, agent: AgentSettings) -> None:
        self._engine = engine
        self._sandbox = sandbox
        self._agent = agent
        self._one_at_a_time = asyncio.Lock()

    async def run(self, arguments: dict[str, Any], context: CallContext | None = None) -> ToolResult:
        language, code = arguments.get("language"), arguments.get("code")
        if language not in LANGUAGES or not isinstance(code, str) or not code.strip():
            return ToolResult(False, 'run_code needs {"language": "python" or "shell", "code": "the program"}.', "invalid_arguments")
        if context is None or self._sandbox.client is None:
            return ToolResult(False, "Code cannot run here: " + (self._sandbox.reason or "no chat to run in."), "unavailable")
        async with self._one_at_a_time:
            return await self._run(language, code, context)

    async def _run(self, language: str, code: str, context: CallContext) -> ToolResult:
        async with self._engine.connect() as conn:
            files = await workspace.everything(conn, context.session_id)
        request = RunRequest(
            language=language, code=code, files=files, timeout_seconds=self._agent.sandbox_timeout_seconds,
            memory_mb=self._agent.sandbox_memory_mb, workspace_mb=self._agent.workspace_max_mb, network=self._agent.sandbox_network,
        )  # fmt: skip
        printed: dict[str, list[str]] = {"stdout": [], "stderr": []}
        result = None
        try:
            async for item in self._sandbox.client.run(request):
                if isinstance(item, Output):
                    printed[item.stream].append(item.text)
                    context.output(item.stream, item.text)
                else:
                    result = item
        except errors.SandboxUnavailable as exc:  # refused, reset: the service is down
            self._sandbox.failed(exc.message)
            return ToolResult(False, f"The code may not have run: {exc.message}", "unavailable")
        except errors.SomaError as exc:  # the request refused (too large a workspace) or a broken answer
            return ToolResult(False, f"The code did not run: {exc.message}", "unavailable")
        if result is None:
            return ToolResult(False, "The sandbox ended the run without a result; the code may not have finished.", "failed")
        return await self._finish(context.session_id, result, printed)

    async def _finish(self, session_id: uuid.UUID, result: Result, printed: dict[str, list[str]]) -> ToolResult:
        """Write the changed files back, then say what happened."""
        note = None
        try:
            async with self._engine.begin() as conn:
                if not (await conn.execute(_RESTORE_OPEN)).scalar_one():  # the chat is about to be replaced
                    raise errors.RestoreInProgress()
                await workspace.apply(conn, session_id, result.changed, result.deleted, workspace.max_bytes(self._agent))
        except (errors.WorkspaceFull, errors.RestoreInProgress) as exc:
            note = f"None of the files it changed were kept: {exc.message}"
        except errors.SessionNotFound:
            return ToolResult(False, "The chat was deleted while the code ran.", "failed")
        files = [{"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for path, data in result.changed]
        deleted = list(result.deleted)
        if note:
            files, deleted = [], []
        details = {"exit_code": result.exit_code, "reason": result.reason, "files": files, "deleted": deleted}
        ok = result.exit_code == 0 and result.reason is None and note is None
        return ToolResult(ok, self._text(result, printed, files, deleted, note), None if ok else (result.reason or "failed"), details)

    def _text(self, result: Result, printed: dict[str, list[str]], files: list[dict], deleted: list[str], note: str | None) -> str:
        limits = {"timeout": self._agent.sandbox_timeout_seconds, "memory": self._agent.sandbox_memory_mb, "workspace": self._agent.workspace_max_mb}
        if result.reason:
            lines = ["The code did not finish: " + _REASONS.get(result.reason, result.reason).format(**limits) + "."]
            if result.message:
                lines.append(result.message)
        else:
            lines = [f"Exit status {result.exit_code}."]
        for stream in ("stdout", "stderr"):
            text = _cut("".join(printed[stream]))
            truncated = getattr(result, f"{stream}_truncated")
            if text or truncated:
                lines.append(f"{stream}{' (cut at 64 KiB)' if truncated else ''}:\n{text}")
        if files:
            lines.append("Files written: " + ", ".join(f"{f['path']} ({f['size']} bytes)" for f in files) + ".")
        if deleted:
            lines.append("Files deleted: " + ", ".join(deleted) + ".")
        if note:
            lines.append(note)
        return "\n".join(lines)


def _cut(text: str) -> str:
    """The text, or its head and tail when it is longer than SLM_OUTPUT_CHARS."""
    if len(text) <= SLM_OUTPUT_CHARS:
        return text
    half = SLM_OUTPUT_CHARS // 2
    return f"{text[:half]}\n… [{len(text) - 2 * half} characters cut] …\n{text[-half:]}"
