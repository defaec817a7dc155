"""Soma's Prometheus metrics, defined once per process, and the small helpers that record them.

Every process has its own default registry; gateway and worker both define all metrics, and each
records those of its own work (HTTP and SSE in the gateway; turns and SLM calls in the worker).
"""

from __future__ import annotations

import platform
import time

import prometheus_client
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest

import soma
from soma import errors

prometheus_client.disable_created_metrics()  # no `_created` twin of every counter and histogram

HTTP_REQUESTS = Counter(
    "soma_http_requests_total",
    "HTTP requests answered, by route template (`unmatched` for no route), method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "soma_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response; an event stream counts until it closes.",
    ["route", "method", "status"],
)
SSE_STREAMS_OPEN = Gauge("soma_sse_streams_open", "Event streams (GET .../events) open on this gateway.")

TURNS = Counter("soma_turns_total", "Turns run by this worker, by outcome.", ["outcome"])
TURN_DURATION = Histogram(
    "soma_turn_duration_seconds",
    "Time one turn job took, by outcome.",
    ["outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
TURN_STAGE = Histogram(
    "soma_turn_stage_seconds",
    "Time a turn spends in each stage before its first word is in the event log (soma.conversations.timeline, which labels them).",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# completed: answer stored; stopped: partial answer stored by a stop request; failed: turn.failed written
# (SLM error); skipped: already answered or deleted; cancelled: stopped by a shutdown, queued again;
# error: an unexpected exception, retried by the queue.
TURN_OUTCOMES = ("completed", "stopped", "failed", "skipped", "cancelled", "error")

QUEUE_DEPTH = Gauge("soma_queue_depth", "Jobs waiting in a queue (procrastinate status 'todo').", ["queue"])
QUEUE_OLDEST_AGE = Gauge(
    "soma_queue_oldest_age_seconds",
    "How long the oldest job that could run now has waited in a queue; 0 when none waits.",
    ["queue"],
)

SLM_CALLS = Counter(
    "soma_slm_calls_total", "HTTP requests to the SLM, each attempt once, by outcome (`ok` or the error code).", ["outcome"]
)
SLM_TIME_TO_FIRST_TOKEN = Histogram(
    "soma_slm_time_to_first_token_seconds",
    "Time from sending a request to the SLM to its first piece of answer text.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
)
SLM_TOKENS = Counter(
    "soma_slm_tokens_total",
    "Tokens the SLM generated: its `usage` count when it sends one, else one per streamed text piece.",
    ["kind"],
)
SLM_OUTCOMES = ("ok", *sorted(cls.code for cls in errors.SLMError.__subclasses__()))

BUILD_INFO = Gauge("soma_build_info", "Always 1; the labels say which Soma and Python run.", ["version", "python"])
BUILD_INFO.labels(version=soma.__version__, python=platform.python_version()).set(1)

# Known label values start at 0, so rates and absent-series alerts work before the first event.
for _outcome in TURN_OUTCOMES:
    TURNS.labels(_outcome)
    TURN_DURATION.labels(_outcome)
for _outcome in SLM_OUTCOMES:
    SLM_CALLS.labels(_outcome)
SLM_TOKENS.labels("completion")


def render() -> bytes:
    """This process's metrics in Prometheus' text format (prometheus_client.CONTENT_TYPE_LATEST)."""
    return generate_latest(REGISTRY)


class SLMCall:
    """Records one HTTP request to the SLM: time to first text, tokens, outcome."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._pieces = 0
        self._usage: int | None = None

    def text(self) -> None:
        """A piece of answer text arrived."""
        if self._pieces == 0:
            SLM_TIME_TO_FIRST_TOKEN.observe(time.monotonic() - self._started)
        self._pieces += 1

    def usage(self, completion_tokens: int) -> None:
        """The SLM reported how many tokens it generated (OpenAI `usage.completion_tokens`)."""
        self._usage = completion_tokens

    def finish(self, outcome: str) -> None:
        """The request ended: `ok`, or an SLMError code."""
        SLM_CALLS.labels(outcome).inc()
        # OpenAI-style servers stream about one token per content delta; a reported `usage` is exact.
        tokens = self._usage if self._usage is not None else self._pieces
        if tokens:
            SLM_TOKENS.labels("completion").inc(tokens)


TUNNEL_STATES = ("off", "starting", "connected", "failed")
REEMBEDDING_DONE = Gauge("soma_reembedding_done", "Vectors of another embedder re-embedded so far by the running re-embedding (soma.embeddings.reembed).")
REEMBEDDING_TOTAL = Gauge("soma_reembedding_total", "Vectors of another embedder the running re-embedding has to re-embed; equal to done when it finished.")

TUNNEL_STATE = Gauge(
    "soma_tunnel_state",
    "1 for the state of cloudflared as this `soma tunnel run` last reported it, 0 for the others; all 0 while it only waits to lead.",
    ["state"],
)
TUNNEL_LEADER = Gauge("soma_tunnel_leader", "1 while this `soma tunnel run` holds the lock and runs cloudflared, else 0.")
TUNNEL_RESTARTS = Counter("soma_tunnel_restarts_total", "cloudflared started again after it exited on its own.")


def tunnel_state(state: str | None) -> None:
    """Mark `state` as current (None: this process does not lead, so it reports none)."""
    for known in TUNNEL_STATES:
        TUNNEL_STATE.labels(known).set(1 if known == state else 0)
