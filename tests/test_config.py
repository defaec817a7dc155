"""Settings derived from others: the stalled threshold never undercuts the drain."""

from __future__ import annotations

import pytest

from soma import config


def _settings(**values: float) -> config.Settings:
    return config.Settings(database_url="postgresql://soma@db/soma", **values)


def test_unset_the_stalled_threshold_is_the_drain_plus_three_heartbeats() -> None:
    assert _settings().worker_stalled_threshold == 25 + 3 * 2
    assert _settings(worker_drain_seconds=60, worker_heartbeat_seconds=5).worker_stalled_threshold == 75


@pytest.mark.parametrize(("stalled", "threshold"), [(1, 31), (15, 31), (31, 31), (45, 45)])
def test_a_stalled_setting_below_the_drain_plus_three_heartbeats_is_raised_to_it(stalled: float, threshold: float) -> None:
    assert _settings(worker_stalled_seconds=stalled).worker_stalled_threshold == threshold


def test_a_drain_of_zero_still_leaves_three_heartbeats_before_a_worker_counts_as_dead() -> None:
    assert _settings(worker_drain_seconds=0, worker_stalled_seconds=0.5, worker_heartbeat_seconds=1).worker_stalled_threshold == 3
