"""A `soma` process's start without Python's cyclic garbage collector.

Importing a command's code makes some 120,000 objects (modules, classes, pydantic schemas, SQLAlchemy
tables) that live as long as the process. The collector, run every 700 new objects, walked them again
and again, some 290 times in a gateway's imports. So the `soma` command turns it off while it imports
(`begin`, at the top of soma.cli) and back on once the command's code is loaded (`done`), after
`gc.freeze` has moved what start-up made out of its sight, so later collections walk only what the
running process makes. bench/process_start.py: a gateway's start 0.97 s of CPU before, 0.84 s after;
a worker's 0.80 s, 0.66 s; `soma keys list` 0.77 s, 0.67 s. No collection before the freeze: it cost
0.12 s to free some 1,300 objects (a few hundred kilobytes) that the freeze keeps instead.

Long-lived commands call `done` themselves once loaded; a timer calls it for every other command that
runs longer than BACKSTOP_SECONDS, so no process runs long without its collector.
"""

from __future__ import annotations

import gc
import threading

BACKSTOP_SECONDS = 5.0

_lock = threading.Lock()


def begin() -> None:
    """Turn the collector off until `done` (or BACKSTOP_SECONDS from now)."""
    gc.disable()
    backstop = threading.Timer(BACKSTOP_SECONDS, done)
    backstop.daemon = True  # a short command exits without waiting for it
    backstop.start()


def done() -> None:
    """The process's code is loaded: freeze what start-up made, turn the collector back on. Idempotent."""
    with _lock:
        if gc.isenabled():
            return
        gc.freeze()
        gc.enable()
