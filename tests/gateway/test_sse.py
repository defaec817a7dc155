"""Where an event stream starts: Last-Event-ID, else ?after=, and a header that is no event id is ignored."""

from __future__ import annotations

import pytest

from soma.gateway import params, sse


@pytest.mark.parametrize(
    ("after", "last_event_id", "start"),
    [
        (None, None, 0),
        (5, None, 5),
        (5, " 12 ", 12),
        (5, str(params.BIGINT_MAX), params.BIGINT_MAX),
        (5, str(params.BIGINT_MAX + 1), 5),  # past bigint: the query would fail mid-stream
        (5, "\u00b2", 5),  # a digit to str.isdigit(), not to int(): was a 500
        (5, "abc", 5),
    ],
)
def test_a_stream_starts_after_the_last_event_id_it_can_have(after, last_event_id, start) -> None:
    assert sse.start_after(after, last_event_id) == start
