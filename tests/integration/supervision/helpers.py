"""A supervisor socket as a test reads it: HELLO, then the floor kept up to date from its deltas."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import websockets

from backend.supervision.floor import Floor
from tests.conftest import bearer
from tests.harness import unique
from tests.integration.workstation.helpers import event, push, seed_task


class FloorSocket:
    def __init__(self, ws: Any, hello: dict[str, Any]) -> None:
        self.ws = ws
        self.hello = hello
        self.frames: list[dict[str, Any]] = []
        self.seq: int = hello["data"]["lastSeq"]
        self.floor = Floor.load(hello["data"].get("floor") or {})

    @classmethod
    async def open(cls, base: str, token: str, last_seq: int | None = None) -> FloorSocket:
        ws = await websockets.connect(base.replace("http://", "ws://") + "/api/supervisor/v1/ws")
        await ws.send(json.dumps({"type": "HELLO", "token": token, "lastSeq": last_seq}))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        return cls(ws, hello)

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if frame["type"] in ("PING", "PONG"):
                continue
            self.frames.append(frame)
            if frame["type"] == "FLOOR_DELTA":
                assert frame["seq"] == self.seq + 1, (frame["seq"], self.seq)
                self.seq = frame["seq"]
                self.floor.apply(frame["data"])
            elif frame["type"] == "RESYNC":
                self.seq = frame["seq"]
                self.floor = Floor.load(frame["data"]["floor"])
            return frame

    async def until(self, check: Callable[[Floor], Any], timeout: float = 5.0) -> Any:
        """Read frames until ``check(floor)`` is truthy; answers its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (value := check(self.floor)):
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"floor never satisfied the check; last frames {self.frames[-3:]}")
            try:
                await self.next(left)
            except TimeoutError:
                continue
        return value

    def operator(self, operator_id: int) -> dict[str, Any] | None:
        return self.floor.operators.get(str(operator_id))

    async def close(self) -> None:
        await self.ws.close()


async def into_rework(http, web, db, op, token) -> tuple[int, dict]:
    """A call whose result window passes: its communication waits in the operator's rework list."""
    task = await seed_task(db, with_product=False)
    call = unique("call-")
    started = await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    comm = started.json()["data"]["communicationId"]
    await push(http, web[0], event("CALL_ENDED", op.id, task, call))
    await db.execute("UPDATE communications SET result_deadline = now() WHERE id = $1", comm)
    for _ in range(100):
        if await db.fetchval("SELECT state FROM communications WHERE id = $1", comm) == "DRAFT":
            break
        await asyncio.sleep(0.1)
    listed = await http.get(f"{web[0]}/api/arm/v1/listCommunications", headers=bearer(token))
    assert [c["id"] for c in listed.json()["data"]["communications"]] == [comm]
    return comm, task
