"""Running Soma's processes: `soma up`'s supervision of its children."""

from __future__ import annotations

from soma.errors.base import SomaError


class ChildKeepsFailing(SomaError):
    """It stopped before it was ready each time, so `soma up` stopped everything. Its last lines are printed above: fix what they name (a port in use, a setting), then run `soma up` again."""

    code = "child_keeps_failing"
