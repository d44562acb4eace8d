"""The floor computer runs in a child process of the worker: a worker killed with -9 leaves no computer
behind (it would hold the leader lock and keep publishing a floor nobody restarts), and a child that dies
is started again by its worker, which then leads again."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tests.harness import unique


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def floor_child(pid: int) -> int | None:
    for child in children(pid):
        try:
            if b"backend.supervision.process" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def wait_until(check, timeout: float = 15) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_the_floor_process_ends_with_its_worker_and_is_restarted_when_it_dies(start_web):
    worker = start_web(module="backend.worker", REDIS_KEY_PREFIX=unique("tmtest:floorproc:") + ":")
    pid = worker.proc.pid
    await wait_until(lambda: floor_child(pid) is not None)
    first = floor_child(pid)
    assert first is not None

    def leading() -> int:
        return worker.log_path.read_text().count("floor computer: leading")
    await wait_until(lambda: leading() == 1)

    os.kill(first, signal.SIGKILL)  # the child crashes: its worker starts another
    await wait_until(lambda: floor_child(pid) not in (None, first))
    second = floor_child(pid)
    assert second is not None and alive(second)
    # It leads once the killed one's lock has lapsed: the floor is computed again.
    await wait_until(lambda: leading() == 2)

    worker.kill()  # kill -9 of the worker: the child must not outlive it
    await wait_until(lambda: not alive(second), timeout=10)
