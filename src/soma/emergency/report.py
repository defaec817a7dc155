"""The incident report of an emergency stop or lift: each step's result, printed, audited and kept as a file."""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

INCIDENTS = "incidents"  # under SOMA_DATA_DIR


@dataclass(frozen=True)
class Step:
    """One step's outcome: its name, whether it worked, how long it took and what it did (or why it failed)."""

    name: str
    ok: bool
    ms: float
    detail: str

    def line(self) -> str:
        return f"{self.name:<10} {'ok' if self.ok else 'FAILED':<6} {self.ms:>7.0f} ms  {self.detail}"


@dataclass
class Report:
    """What was done, when, by whom and why."""

    action: str  # emergency.stop or emergency.lift
    reason: str
    actor: str
    started_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    steps: list[Step] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """The names of the steps that failed."""
        return [s.name for s in self.steps if not s.ok]

    def as_dict(self) -> dict[str, Any]:
        """The report as stored in the audit entry's details and returned by the API."""
        return {
            "action": self.action,
            "reason": self.reason,
            "actor": self.actor,
            "started_at": _iso(self.started_at),
            "ok": not self.failed,
            "steps": [asdict(s) for s in self.steps],
        }

    def text(self) -> str:
        """The report as an operator reads it."""
        title = "Emergency stop" if self.action == "emergency.stop" else "Emergency lockdown lifted"
        outcome = "every step succeeded" if not self.failed else f"FAILED steps: {', '.join(self.failed)}"
        lines = [
            f"{title}: {outcome}",
            f"when:   {_iso(self.started_at)}",
            f"who:    {self.actor}",
            f"reason: {self.reason}",
            "steps:",
            *(f"  {s.line()}" for s in self.steps),
        ]
        return "\n".join(lines) + "\n"

    def store(self, data_dir: Path) -> Path:
        """Write the report to SOMA_DATA_DIR/incidents/<time>-<action>.txt, with its JSON beside it; returns the text file."""
        folder = data_dir / INCIDENTS
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{self.started_at.strftime('%Y%m%dT%H%M%S.%fZ')}-{self.action.replace('.', '-')}"
        text = folder / f"{stem}.txt"
        text.write_text(self.text())
        (folder / f"{stem}.json").write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return text


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
