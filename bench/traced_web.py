"""The `web` process under tracemalloc, for `bench.idle_sockets --trace` only (never in the Procfile).

Starts tracemalloc (TM_TRACE_FRAMES frames, default 8) and runs `backend.web` unchanged; on SIGUSR1 it writes
a snapshot and a count of live objects by type (gc) to TM_TRACE_DIR/<pid>-<n>.{snap,types.json}, after a
full collection, so that the bench can diff the process at N and at 2N idle sockets.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType

from backend import web

_taken = 0


def _dump(signum: int, frame: FrameType | None) -> None:
    global _taken
    _taken += 1
    gc.collect()
    base = Path(os.environ["TM_TRACE_DIR"]) / f"{os.getpid()}-{_taken}"
    types = Counter(type(o).__qualname__ for o in gc.get_objects())
    tracemalloc.take_snapshot().dump(str(base.with_suffix(".snap")))
    base.with_suffix(".types.json").write_text(json.dumps(dict(types)))
    base.with_suffix(".done").write_text("")


if __name__ == "__main__":
    tracemalloc.start(int(os.environ.get("TM_TRACE_FRAMES", "8")))
    signal.signal(signal.SIGUSR1, _dump)
    web.main()
