"""GET /api/supervisor/v1/ws — the supervisors' push channel, on the operator socket's protocol.

  client → {"type":"HELLO","token":"<access token>","lastSeq":<int|null>}   first message, within 5 s
  server → {"type":"HELLO_OK","seq":null,"data":{"lastSeq":N,"heartbeatSeconds":S,"operatorId":..,"role":..,
                                                  "serverTimeMs":..,"floor":{..}}}  "floor" only for lastSeq
            null: the snapshot as of seq N
  server → {"type":"FLOOR_DELTA","seq":n,"data":{"operators":{id:row},"campaigns":{id:tile},
            "alerts":{id:alert|null},"chart":{minute:bucket},"errors":{..},"serverTimeMs":..}}  n = previous + 1
  server → {"type":"RESYNC","seq":N,"data":{"reason":..,"lastSeq":N,"floor":{..}}}   lastSeq unknown or too old
            (or the client fell behind): the snapshot as of N replaces everything held
  server → {"type":"PING",..} every S s (any client frame answers it); client {"type":"PING"} → {"type":"PONG"}
  server → {"type":"SESSION_ENDED",..} then close 4401
Close codes as the operator socket's: 4400 bad HELLO, 4401 not authenticated / session ended, 4403 Origin not
allowed or not a supervisor/admin, 4408 no HELLO or heartbeat in time, 4429 too many sockets of one user.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from backend.auth.guards import PUBLIC
from backend.auth.permissions import Permissions
from backend.core.retry import cancel_and_wait
from backend.events.bus import encode_frame
from backend.events.handshake import greet, refuse
from backend.supervision.feed import SupervisorFeed, Watcher


@websocket("/api/supervisor/v1/ws", opt=PUBLIC)
async def supervisor_socket(socket: WebSocket[Any, Any, Any]) -> None:
    greeted = await greet(socket)
    if greeted is None:
        return
    principal, last_seq = greeted
    state = socket.app.state
    settings = state.settings
    permissions: Permissions = state.permissions
    if not await permissions.allowed(principal.role, "floor.view"):
        await refuse(socket, 4403, "ROLE_REQUIRED", "this channel needs the permission floor.view",
                     "supervisors only")
        return
    feed: SupervisorFeed = state.floor_feed
    if feed.watchers_of(principal.operator_id) >= settings.ws_max_sockets_per_operator:
        await refuse(socket, 4429, "TOO_MANY_SOCKETS", "close another tab", "too many sockets")
        return
    await feed.loaded.wait()

    async def close(code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await socket.close(code=code, reason=reason)

    watcher = Watcher(principal.operator_id, principal.session_id, socket.send_text, close)
    sender: asyncio.Task[None] | None = None
    heartbeat = settings.ws_heartbeat_seconds
    try:
        # No await between reading the feed's seq and registering: every later delta reaches this queue.
        current = feed.seq
        hello_ok: dict[str, Any] = {"lastSeq": current, "heartbeatSeconds": heartbeat,
                                    "operatorId": principal.operator_id, "role": principal.role}
        missed = None if last_seq is None else feed.missed_since(last_seq)
        snapshot = feed.snapshot_json() if last_seq is None else None
        feed.register(watcher)
        watcher.last_sent = current
        if missed is not None:
            watcher.last_sent = last_seq or 0
            for seq, text in missed:
                watcher.offer("frame", seq, text)
        elif last_seq is not None:
            watcher.offer("resync", text="unknown or too old lastSeq")
        if snapshot is not None:
            text = encode_frame("HELLO_OK", None, {**hello_ok, "serverTimeMs": feed.snapshot()["serverTimeMs"]})
            await socket.send_text(text[:-2] + ',"floor":' + snapshot + "}}")
        else:
            await socket.send_text(encode_frame("HELLO_OK", None, hello_ok))
        sender = asyncio.create_task(feed.run_sender(watcher), name=f"floor-sender-{principal.operator_id}")
        await _receive_loop(socket, watcher, heartbeat, sender)
    except WebSocketDisconnect:
        pass
    finally:
        feed.unregister(watcher)
        if sender is not None:
            await cancel_and_wait(sender)


async def _receive_loop(socket: WebSocket[Any, Any, Any], watcher: Watcher, heartbeat: float,
                        sender: asyncio.Task[None]) -> None:
    """Client frames (PING, PONG); three silent heartbeats close the socket."""
    silent = 0
    receive: asyncio.Future[str] = asyncio.ensure_future(socket.receive_text())
    try:
        while not sender.done():
            waiting: set[asyncio.Future[Any]] = {receive, sender}
            done, _ = await asyncio.wait(waiting, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED)
            if receive in done:
                text = receive.result()
                silent = 0
                if '"PING"' in text:
                    watcher.offer("raw", text=encode_frame("PONG", None, {}))
                receive = asyncio.ensure_future(socket.receive_text())
            elif not done:
                silent += 1
                if silent >= 3:
                    await watcher.close(4408, "heartbeat timeout")
                    return
                watcher.offer("raw", text=encode_frame("PING", None, {"lastSeq": watcher.last_sent}))
    finally:
        if not receive.done():
            receive.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receive
