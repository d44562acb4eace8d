"""The cyclic garbage collector and a process's long-lived objects (issue 16: the screen pop's tail).

A full (generation 2) collection walks every tracked object. In a started process most of those are there
for its whole life — modules, classes, the Litestar app with its routes and schemas, pools — and walking
them took 60–115 ms in each web process and in the worker under ``bench.supervisors`` (a ``gc.callbacks``
probe): a pause that every card on that process waited through, which is what a p99 of 1,800 cards is made
of. ``settle`` freezes what exists once the process has started (``gc.freeze``: moved to a permanent
generation the collector no longer visits; still freed by reference counting if it ever goes), so a full
collection walks only what came since. Collection itself stays on: cycles made later are still found.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("backend.heap")


def settle() -> None:
    """Collect what starting left behind, then freeze the rest: call once, when the process has started."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info("heap settled: %d objects frozen out of the collector's walks (%.0f ms)", gc.get_freeze_count(),
             (time.perf_counter() - started) * 1000)
