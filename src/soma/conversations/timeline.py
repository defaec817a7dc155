"""Where a turn's time goes before its first word is in the event log, stage by stage.

    queue            the gateway's transaction that stored the user message began → the worker fetched the job
    prepare          fetched → the prompt is built (message, settings, history, memories, knowledge)
    slm_first_token  the request to the SLM is sent → its first piece of answer text
    first_delta      that piece arrives → the delta holding it is committed (and NOTIFY sent to the gateways)

Each stage lands in the answer's `meta.timeline` (ms) and in soma_turn_stage_seconds. The stamps
are wall-clock times (`queue` spans two processes, which share a clock on one host and are
NTP-close in a cluster); taking them costs a few microseconds a turn.
"""

from __future__ import annotations

import time

from soma.observability import metrics

# (stage, the mark it starts at, the mark it ends at)
STAGES = (
    ("queue", "queued", "fetched"),
    ("prepare", "fetched", "prepared"),
    ("slm_first_token", "requested", "first_piece"),
    ("first_delta", "first_piece", "first_delta"),
)

for _stage, _start, _end in STAGES:
    metrics.TURN_STAGE.labels(_stage)  # every stage's series exists at 0 before the first turn


class Timeline:
    """The marks of one turn; each is kept the first time it is made (a retried SLM request does not move it)."""

    def __init__(self, queued_at: float | None, fetched_at: float | None = None) -> None:
        self._marks: dict[str, float] = {"fetched": fetched_at or time.time()}
        if queued_at is not None:
            self._marks["queued"] = queued_at

    def mark(self, name: str) -> None:
        self._marks.setdefault(name, time.time())

    def stages(self) -> dict[str, float]:
        """Each stage whose two marks were made, in ms."""
        marks = self._marks
        return {stage: round((marks[end] - marks[start]) * 1000, 1) for stage, start, end in STAGES if start in marks and end in marks}

    def observe(self) -> None:
        """Record the stages in soma_turn_stage_seconds."""
        for stage, ms in self.stages().items():
            metrics.TURN_STAGE.labels(stage).observe(max(ms, 0) / 1000)
