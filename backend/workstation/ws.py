"""GET /api/arm/v1/ws — the operator's push channel.

Protocol (JSON text frames):
  client → {"type":"HELLO","token":"<access token>","lastSeq":<int|null>}   first message, within 5 s
  server → {"type":"HELLO_OK","seq":null,"data":{"lastSeq":N,"heartbeatSeconds":S,"operatorId":..,
                                                  "serverTimeEpochMs":T,"timeZone":"Europe/Moscow",
                                                  "current":{..}|null}}   "current" only for lastSeq null:
            the current call as of seq N (as getClientCard), read in one transaction with N;
            serverTimeEpochMs and timeZone (OPERATOR_TIMEZONE) give the page one clock: the server's time,
            shown in the operators' zone, whatever the browser's clock and zone say
  server → {"type":<event>,"seq":n,"data":{...}}   n = previous + 1, per operator, across tabs
  server → {"type":"RESYNC","seq":N,...}           lastSeq unknown or too old: reload from REST
  server → {"type":"PING","seq":null,...} every S s; client answers {"type":"PONG"} (any frame will do)
  client → {"type":"PING"} → server {"type":"PONG"}
  server → {"type":"SESSION_ENDED",...} then close 4401 (logout elsewhere, lock, expiry)
Close codes: 4400 bad HELLO, 4401 not authenticated / session ended, 4403 Origin not allowed or not an
operator, 4408 no HELLO or heartbeat in time, 4429 too many sockets of this operator on this process,
1009 a frame over 64 KiB (the web process refuses larger frames and never compresses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from backend.auth.guards import PUBLIC
from backend.events import queries as events
from backend.events.bus import encode_frame
from backend.events.handshake import greet, refuse
from backend.events.hub import Connection, Hub, Item
from backend.workstation.service import Workstation

log = logging.getLogger("backend.ws")


@websocket("/api/arm/v1/ws", opt=PUBLIC)
async def operator_socket(socket: WebSocket[Any, Any, Any]) -> None:
    greeted = await greet(socket)
    if greeted is None:
        return
    principal, last_seq = greeted
    state = socket.app.state
    settings = state.settings
    if principal.role != "operator":
        await refuse(socket, 4403, "ROLE_REQUIRED", "this channel is for operators", "operators only")
        return

    hub: Hub = state.hub
    if hub.connections_of(principal.operator_id) >= settings.ws_max_sockets_per_operator:
        await refuse(socket, 4429, "TOO_MANY_SOCKETS", "close another tab of this operator", "too many sockets")
        return

    async def close(code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await socket.close(code=code, reason=reason)

    conn = Connection(principal.operator_id, principal.session_id, socket.send_text, close)
    # Registered before the watermark is read: an event committed after that read is published after it
    # too, so it reaches this connection's queue (and the sweep re-reads PostgreSQL should Pub/Sub lose it).
    hub.register(conn)
    try:
        heartbeat = settings.ws_heartbeat_seconds
        hello_ok: dict[str, Any] = {"heartbeatSeconds": heartbeat, "operatorId": principal.operator_id,
                                    "timeZone": settings.operator_timezone}
        if last_seq is None:
            # A client with no state: the snapshot and the watermark come from one transaction, so each
            # event is either reflected in "current" (seq <= lastSeq) or sent after HELLO_OK, never both.
            workstation: Workstation = state.workstation
            current, hello_ok["current"] = await workstation.snapshot(principal.operator_id)
        else:
            current = await events.last_seq(state.pool, principal.operator_id)
        hello_ok["lastSeq"] = current
        hello_ok["serverTimeEpochMs"] = int(time.time() * 1000)  # as late as possible: the page measures its offset
        await socket.send_text(encode_frame("HELLO_OK", None, hello_ok))
        del hello_ok  # the snapshot it carries is not kept for the socket's life
        if last_seq is None:
            conn.last_sent = current
        elif last_seq > current:
            await socket.send_text(encode_frame("RESYNC", current, {"reason": "unknown lastSeq", "lastSeq": current}))
            conn.last_sent = current
        else:
            conn.last_sent = last_seq
            conn.offer(Item("catchup", current))
        hub.start_sender(conn)
        await _receive_loop(socket, conn, heartbeat)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unregister(conn)
        await hub.stop_sender(conn)


async def _receive_loop(socket: WebSocket[Any, Any, Any], conn: Connection, heartbeat: float) -> None:
    """Wait for client frames in the handler's own task (no task or future of its own per socket: issue 16);
    a receive that times out is cancelled, which loses nothing (the server's receive is a queue get). Ends
    when the client goes (WebSocketDisconnect), after a heartbeat timeout, or once the socket was ended."""
    silent = 0
    while not conn.ended:
        try:
            async with asyncio.timeout(heartbeat):
                text = await socket.receive_text()
        except TimeoutError:
            if conn.ended:
                return
            silent += 1
            if silent >= 3:
                await conn.close(4408, "heartbeat timeout")
                return
            conn.offer(Item("raw", text=encode_frame("PING", None, {"lastSeq": conn.last_sent})))
            continue
        silent = 0
        if '"PING"' in text:
            conn.offer(Item("raw", text=encode_frame("PONG", None, {})))
