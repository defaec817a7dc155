"""Whether a jail can run on this machine, and, once at start, what every jail needs: bwrap, the sandbox's Python, matplotlib's font list.

`GET /v1/check` answers with `reason()`: None when a real jail just ran, or one line naming the
cause and the fix (docs/runbooks/sandbox-cannot-start.md has the long form of each).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from pathlib import Path

from soma.sandbox import jail, limits, protocol, python_env, runner

log = logging.getLogger(__name__)

RUNBOOK = "docs/runbooks/sandbox-cannot-start.md"
FRESH_FOR = 30.0  # seconds a jail that ran is taken to still run, so a busy worker does not start one per question
# bwrap's own words (its first line on stderr) for what a machine refuses, and what to do about it.
REFUSALS = (
    ("max_*_namespaces", "this machine allows no more user namespaces: raise the limit (sysctl user.max_user_namespaces=15000)"),
    ("No permissions to creat", "the kernel or the container refuses user namespaces to unprivileged users: in a"
     " container, run the sandbox with seccomp Unconfined (the chart's sandbox Deployment does); on a machine, allow"
     " them (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04, an AppArmor profile for bwrap)"),
    ("setting up uid map", "the kernel refuses user namespaces to unprivileged users: allow them (sysctl"
     " kernel.unprivileged_userns_clone=1; on Ubuntu 24.04, an AppArmor profile for bwrap)"),
    ("Creating new namespace failed", "this container may not create namespaces: run the sandbox with seccomp and AppArmor"
     " Unconfined (the chart's sandbox Deployment does)"),
    ("Can't mount proc", "this container may not mount /proc: run the sandbox with procMount Unmasked, or as the chart's"
     " sandbox Deployment does"),
)  # fmt: skip
FONT_CACHE_CODE = """
import glob, shutil
import matplotlib.font_manager  # builds the font list in MPLCONFIGDIR
for path in glob.glob("/tmp/matplotlib/fontlist-*.json"):
    shutil.copy(path, ".")
"""


def layout(python: Path) -> jail.Layout | str:
    """What every jail here gets, or a one-line reason no jail can start."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return (
            "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` (`make run` and `make test` do it),"
            f" or put bwrap on the sandbox's PATH. See {RUNBOOK}."
        )
    problem = limits.identity_problem()
    if problem:
        return f"{problem} See {RUNBOOK}."
    env = python_env.locate(python)
    if isinstance(env, str):
        return env
    shell = "/usr/bin/bash" if Path("/usr/bin/bash").exists() else "/bin/sh"
    return jail.Layout(bwrap, env, shell)


async def with_fonts(found: jail.Layout, slots: limits.Slots) -> jail.Layout:
    """`found` with matplotlib's font list, built once in a jail, so no run spends a second building it again."""
    request = protocol.RunRequest("python", FONT_CACHE_CODE, timeout_seconds=60)
    async with slots.slot() as slot:
        async with contextlib.aclosing(runner.run(found, request, slot)) as events:
            async for event in events:
                if isinstance(event, protocol.Result) and event.exit_code == 0 and event.changed:
                    return jail.Layout(found.bwrap, found.python, found.shell, event.changed[0])
    log.info("no matplotlib font list for the jails (is matplotlib in the sandbox's Python?): each run that plots builds its own")
    return found


class Checker:
    """What every jail here gets, looked for again while something is missing, and whether a jail runs.

    A missing piece (bwrap not installed yet, the sandbox's Python not built yet) is looked for at
    every check, so fixing the machine needs no restart; a jail that ran is remembered FRESH_FOR seconds.
    """

    def __init__(self, python: Path, slots: limits.Slots) -> None:
        self.python = python
        self.slots = slots
        self.found: jail.Layout | str = "not looked for yet"
        self.finding = asyncio.Lock()
        self.worked_at = float("-inf")

    async def layout(self) -> jail.Layout | str:
        """The layout of this machine's jails, or why there is none."""
        async with self.finding:
            if isinstance(self.found, str):
                found = layout(self.python)
                self.found = await with_fonts(found, self.slots) if isinstance(found, jail.Layout) else found
        return self.found

    async def reason(self) -> str | None:
        """None when a jail runs here, else why not and what to do."""
        found = await self.layout()
        if isinstance(found, str):
            return found
        if time.monotonic() - self.worked_at < FRESH_FOR:
            return None
        result, stderr = await self._run_one(found)
        if result is not None and result.exit_code == 0:
            self.worked_at = time.monotonic()
            return None
        return explain(result, stderr)

    async def _run_one(self, found: jail.Layout) -> tuple[protocol.Result | None, str]:
        request = protocol.RunRequest("shell", "exit 0", timeout_seconds=10)
        result, stderr = None, ""
        async with self.slots.slot() as slot:
            async with contextlib.aclosing(runner.run(found, request, slot)) as events:
                async for event in events:
                    if isinstance(event, protocol.Output) and event.stream == "stderr":
                        stderr += event.text
                    elif isinstance(event, protocol.Result):
                        result = event
        return result, stderr


def explain(result: protocol.Result | None, stderr: str) -> str:
    """One line for a jail that did not run: bwrap's complaint with its fix, or what the run said."""
    first = stderr.strip().splitlines()[0] if stderr.strip() else ""
    for words, fix in REFUSALS:
        if words in first:
            return f"A jail cannot start here ({first}): {fix}. See {RUNBOOK}."
    said = first or (result.message if result and result.message else f"exit code {result.exit_code if result else None}")
    return f"A jail cannot start here ({said}). See {RUNBOOK}."
