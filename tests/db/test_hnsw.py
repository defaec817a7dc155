"""The search depth follows the table's size: an exact scan while small, then an ef_search that grows to pgvector's cap."""

from __future__ import annotations

from soma.db import hnsw


def test_a_small_table_is_scanned_exactly_and_a_larger_one_searched_deeper_up_to_the_cap() -> None:
    sizes = [0, 9_999, 10_000, 100_000, 1_000_000, 1e9, 1e20]

    assert [hnsw.depth_for(rows, k=10) for rows in sizes] == [None, None, 100, 175, 250, 475, 1000]  # pgvector refuses more
    assert hnsw.depth_for(10_000, k=150) == 150  # an HNSW scan returns at most ef_search rows
