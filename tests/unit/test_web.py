"""The web process's lean WebSocket receive queue (backend/web.py, issue 16): what uvicorn's protocol relies on
of an asyncio.Queue must hold, or a socket would lose or reorder client frames."""

from __future__ import annotations

import asyncio

import pytest

from backend.web import _ReceiveQueue


async def test_frames_arrive_in_order_whether_queued_before_or_while_waiting() -> None:
    queue = _ReceiveQueue()
    queue.put_nowait({"n": 1})
    queue.put_nowait({"n": 2})
    assert queue.qsize() == 2
    assert [await queue.get(), await queue.get()] == [{"n": 1}, {"n": 2}]
    assert queue.empty()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait({"n": 3})
    queue.put_nowait({"n": 4})
    assert await waiting == {"n": 3}
    assert await queue.get() == {"n": 4}


async def test_a_receive_cut_short_by_a_timeout_loses_nothing() -> None:
    """The workstation socket waits for client frames under a heartbeat timeout (workstation/ws.py)."""
    queue = _ReceiveQueue()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await queue.get()
    queue.put_nowait({"type": "websocket.receive", "text": "PONG"})
    assert await asyncio.wait_for(queue.get(), 1) == {"type": "websocket.receive", "text": "PONG"}
    assert queue.empty()


async def test_two_waiters_each_get_one_frame() -> None:
    queue = _ReceiveQueue()
    first, second = asyncio.create_task(queue.get()), asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert sorted(await asyncio.gather(first, second)) == ["a", "b"]
