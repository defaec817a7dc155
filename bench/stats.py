"""The figures benchmarks print: percentiles, medians and spreads, and tables of fixed-width columns."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float, method: str = "inclusive") -> float:
    """The q-th percentile (0…100) of values; nan when there are none.

    "inclusive": linear interpolation between the closest ranks, numpy's default, for any q.
    "exclusive": statistics.quantiles' default (ranks counted over n + 1), for whole q from 1 to 99;
    bench/memory_search.py's published figures use it, so it keeps it. One value is its own percentile.
    """
    if not values:
        return math.nan
    if method == "exclusive":
        return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median; nan when there are no values."""
    return statistics.median(values) if values else math.nan


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """Least, median and most of values (nan for each when there are none)."""
    if not values:
        return math.nan, math.nan, math.nan
    return min(values), statistics.median(values), max(values)


class Table:
    """Columns of fixed width printed a line at a time, each column given as (heading, alignment and width, number format).

    `Table(("search", "<30", ""), ("p50 ms", ">9", ".2f"))`: the heading and every value are
    formatted with the column's alignment and width, a value also with its number format.
    """

    def __init__(self, *columns: tuple[str, str, str]) -> None:
        self.columns = columns

    def heading(self) -> str:
        """The line of headings."""
        return "".join(f"{heading:{width}}" for heading, width, _ in self.columns)

    def row(self, *values: object) -> str:
        """One line of values, one a column."""
        return "".join(f"{value:{width}{number}}" for value, (_, width, number) in zip(values, self.columns, strict=True))
