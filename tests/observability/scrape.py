"""Reading Prometheus text output in tests: every sample by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

# Every metric a Soma process exports, with the sample names Prometheus stores for it.
SOMA_SAMPLES = {
    "soma_http_requests": ("soma_http_requests_total",),
    "soma_http_request_duration_seconds": (
        "soma_http_request_duration_seconds_bucket",
        "soma_http_request_duration_seconds_sum",
        "soma_http_request_duration_seconds_count",
    ),
    "soma_sse_streams_open": ("soma_sse_streams_open",),
    "soma_turns": ("soma_turns_total",),
    "soma_turn_duration_seconds": (
        "soma_turn_duration_seconds_bucket",
        "soma_turn_duration_seconds_sum",
        "soma_turn_duration_seconds_count",
    ),
    "soma_queue_depth": ("soma_queue_depth",),
    "soma_queue_oldest_age_seconds": ("soma_queue_oldest_age_seconds",),
    "soma_slm_calls": ("soma_slm_calls_total",),
    "soma_slm_time_to_first_token_seconds": (
        "soma_slm_time_to_first_token_seconds_bucket",
        "soma_slm_time_to_first_token_seconds_sum",
        "soma_slm_time_to_first_token_seconds_count",
    ),
    "soma_slm_tokens": ("soma_slm_tokens_total",),
    "soma_reembedding_done": ("soma_reembedding_done",),
    "soma_reembedding_total": ("soma_reembedding_total",),
    "soma_build_info": ("soma_build_info",),
}


class Scrape:
    """One parsed /metrics answer."""

    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = {
            (s.name, frozenset(s.labels.items())): s.value for f in self.families.values() for s in f.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 when the series does not exist yet."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def sample_names(self, family: str) -> set[str]:
        return {s.name for s in self.families[family].samples}

    def label_values(self, name: str, label: str) -> set[str]:
        return {dict(labels)[label] for (n, labels) in self.samples if n == name and label in dict(labels)}
