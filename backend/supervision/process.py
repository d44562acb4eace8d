"""The floor computer's own process: a child of the worker (``FloorProcess`` below starts and watches it).

Why not a task of the worker, as it was: the floor is 1,000 operators' views, re-read and diffed several
times a second, and its CPU and its garbage ran on the loop that applies call events: the worker's full
garbage collections (45-78 ms, every 15-50 s) and the floor's steps were the screen pop's latency episodes.
On the ladder (``bench.ws_push``, six runs each, README "The episode, found") the 60 calls/s p99 went from
11.8-163 ms to 10.4-15.5 ms. Every change still reaches supervisors the same way (the Redis delta stream),
and it is still computed once.

The child dies with the worker: it asks the kernel for SIGTERM when its parent goes (``PR_SET_PDEATHSIG``,
Linux), so a worker killed with -9 leaves no floor computer behind; on SIGTERM it gives its leader lock back
at once, for the next worker's child to take. The worker restarts a child that exits, with the retry policy's
backoff, and shows it among its loops on /health ("floor process").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys

import msgspec
import uvloop

from backend.core.db import create_pool, create_redis
from backend.core.logging import configure_logging
from backend.core.retry import cancel_and_wait, run_forever
from backend.core.settings import Settings, load_or_exit
from backend.supervision.computer import FloorComputer

log = logging.getLogger("backend.supervision")
POOL_SIZE = 3  # the computer runs one step at a time: a rebuild's snapshot and a step's reads


class FloorProcessExited(Exception):
    """The floor computer's process ended; the worker starts another."""


class FloorProcess:
    """The worker's side: start the child, wait on it, stop it with the worker."""

    def __init__(self, module: str = "backend.supervision.process") -> None:
        self._module = module

    async def run_forever(self) -> None:
        await run_forever("floor process", self._run_once, expected=(FloorProcessExited, OSError))

    async def _run_once(self) -> None:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", self._module, "--parent", str(os.getpid()))
        try:
            code = await proc.wait()
        finally:
            if proc.returncode is None:  # the worker is stopping: the child gives its lock back and ends
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
        raise FloorProcessExited(f"the floor computer's process exited with {code}")


def die_with_parent(parent: int) -> None:
    """SIGTERM when the worker goes, however it goes; and if it is already gone, go now."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    if os.getppid() != parent:
        raise SystemExit(0)


async def run(settings: Settings) -> None:
    own = msgspec.structs.replace(settings, db_pool_min_size=min(settings.db_pool_min_size, 1),
                                  db_pool_max_size=min(settings.db_pool_max_size, POOL_SIZE))
    pool = await create_pool(own)
    redis = create_redis(own)
    floor = FloorComputer(pool, redis, own)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(floor.run(), name="floor")
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    await cancel_and_wait(task)
    with contextlib.suppress(Exception):
        await floor.lock.release()  # the next worker's floor computer need not wait for the lock to expire
    await redis.aclose()
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--parent", type=int, required=True, help="the worker's pid: this process ends with it")
    args = parser.parse_args()
    die_with_parent(args.parent)
    settings = load_or_exit(("DATABASE_URL", "REDIS_URL"))
    configure_logging(settings.log_level)
    uvloop.run(run(settings))


if __name__ == "__main__":
    main()
