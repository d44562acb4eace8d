"""The web process's side of the event fan-out: its local sockets, one send queue each.

* One Redis subscription per process (not per operator, so nothing leaks as sockets come and go);
  it reconnects with the one backoff policy (``core.retry``) after a Redis restart or failover, and after
  SILENCE_SECONDS without even an answer to its PING (a host lost without closing the connection).
* Each socket has its own queue and sender task, so a slow client delays nobody else; both exist only while
  there is something to send (an idle socket is one small object: issue 16); the queue is bounded and, when
  full, live frames are dropped: the sender refills any gap from PostgreSQL by seq.
* A sweep every half second closes sockets whose session ended (however it ended: logout elsewhere,
  lock, CLI, expiry) and hands each socket a "catch up to seq N" marker when the database has events
  it has not sent: this delivers whatever Pub/Sub lost. Once a minute it slides the idle expiry of
  sessions that hold an open socket (a waiting operator is active).
* Socket liveness for presence: every third of ``PRESENCE_GRACE_SECONDS`` (and at the sweep after a socket
  opens) the sweep records in PostgreSQL that the operators of its live sockets are present until now +
  the grace period, so the state holds across web processes and lapses when the last socket is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions

from backend.core.errors import DEPENDENCY_ERRORS
from backend.core.metrics import SCREEN_POP, SOCKETS_OPEN
from backend.core.retry import beat, cancel_and_wait, run_forever
from backend.core.settings import Settings
from backend.events import queries
from backend.events.bus import channel, encode_frame

log = logging.getLogger("backend.hub")

QUEUE_LIMIT = 256
SWEEP_SECONDS = 0.5
TOUCH_EVERY_SWEEPS = 120
_WEB_STAGE = SCREEN_POP.labels("web")
SILENCE_SECONDS = 10.0  # the subscription's connection is given up after this long without a word


@dataclass(frozen=True)
class Item:
    """What a sender task is asked to do: send a frame, catch up to a seq, or end the socket."""

    kind: str  # "frame" | "catchup" | "raw" | "end"
    seq: int = 0
    text: str = ""
    at: float = 0.0  # a card from Pub/Sub: when it came (perf_counter), for the screen-pop histogram


@dataclass(eq=False, slots=True)
class Connection:
    """One socket. Idle, it is this object only (issue 16: memory per idle socket): its queue exists while
    something waits to be sent, and its sender task while it sends (``Hub.start_sender`` wires ``spawn``)."""

    operator_id: int
    session_id: uuid.UUID
    send: Callable[[str], Awaitable[None]]
    close: Callable[[int, str], Awaitable[None]]
    last_sent: int = 0
    ended: bool = False
    queue: deque[Item] | None = None
    sender: asyncio.Task[None] | None = None
    spawn: Callable[[Connection], asyncio.Task[None]] | None = None

    def offer(self, item: Item) -> None:
        if self.ended:
            return
        queue = self.queue
        if queue is None:
            queue = self.queue = deque()
        if len(queue) >= QUEUE_LIMIT:
            if item.kind not in ("end", "raw"):
                return  # An event frame is dropped; the next frame or sweep sees the gap and reads PostgreSQL.
            # Control frames must not be lost: make room by dropping one event (it is refetched by seq).
            queue.popleft()
        queue.append(item)
        if self.sender is None and self.spawn is not None:
            self.sender = self.spawn(self)


class Hub:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self._local: dict[int, set[Connection]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed_once = False
        self._seen_every = max(SWEEP_SECONDS, settings.presence_grace_seconds / 3)
        self._seen_at = 0.0  # monotonic time liveness was last recorded; 0: at the next sweep

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._subscribe_forever(), name="hub-subscriber"),
                       asyncio.create_task(self._sweep_forever(), name="hub-sweep")]

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        for conns in list(self._local.values()):
            for conn in list(conns):
                conn.offer(Item("end", text="server shutting down"))

    # -- registration -------------------------------------------------------------------------------

    def register(self, conn: Connection) -> None:
        self._local[conn.operator_id].add(conn)
        SOCKETS_OPEN.inc()
        self._seen_at = 0.0  # a socket (re)opened: record the operator as present at the next sweep

    def unregister(self, conn: Connection) -> None:
        conns = self._local.get(conn.operator_id)
        if conns is not None and conn in conns:
            SOCKETS_OPEN.dec()
            conns.discard(conn)
            if not conns:
                del self._local[conn.operator_id]

    def connections_of(self, operator_id: int) -> int:
        return len(self._local.get(operator_id, ()))

    def connection_count(self) -> int:
        return sum(len(c) for c in self._local.values())

    # -- the sender of one socket -------------------------------------------------------------------

    def start_sender(self, conn: Connection) -> None:
        """From now on, what is offered to the socket is sent (a task per socket only while it has something
        to send), starting with whatever was offered before."""
        conn.spawn = self._spawn_sender
        if conn.queue and conn.sender is None:
            conn.sender = self._spawn_sender(conn)

    def _spawn_sender(self, conn: Connection) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._run_sender(conn))

    async def stop_sender(self, conn: Connection) -> None:
        conn.spawn = None
        sender = conn.sender
        if sender is not None and sender is not asyncio.current_task():
            await cancel_and_wait(sender)

    async def _run_sender(self, conn: Connection) -> None:
        """Send the socket's queue in order; never send a seq twice; fill gaps from PostgreSQL. A send that
        fails (the client went away) ends the socket: the handler sees the disconnect and unregisters it."""
        try:
            while conn.queue:
                item = conn.queue.popleft()
                if item.kind == "end":
                    conn.ended = True
                    conn.queue = None
                    await conn.send(encode_frame("SESSION_ENDED", None, {"reason": item.text}))
                    await conn.close(4401, "session ended")
                    return
                if item.kind == "raw":
                    await conn.send(item.text)
                    continue
                if item.seq <= conn.last_sent:
                    continue  # already sent (duplicate delivery, or covered by a catch-up)
                if item.kind == "frame" and item.seq == conn.last_sent + 1:
                    await conn.send(item.text)
                    conn.last_sent = item.seq
                    if item.at:
                        _WEB_STAGE.observe(time.perf_counter() - item.at)
                    continue
                await self._catch_up(conn, item.seq)
            conn.queue = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("socket of operator %s ended: %s", conn.operator_id, type(exc).__name__)
            conn.ended = True
            conn.queue = None
            await conn.close(1011, "send failed")
        finally:
            conn.sender = None

    async def _catch_up(self, conn: Connection, upto: int) -> None:
        while conn.last_sent < upto:
            rows = await queries.events_between(self._pool, conn.operator_id, conn.last_sent, upto)
            if not rows or rows[0]["seq"] != conn.last_sent + 1:
                # The events the client missed were pruned (or never existed): it must reload from REST.
                await conn.send(encode_frame("RESYNC", upto, {"reason": "events too old", "lastSeq": upto}))
                conn.last_sent = upto
                return
            for row in rows:
                await conn.send(encode_frame(row["event_type"], row["seq"], row["data"]))
                conn.last_sent = row["seq"]

    # -- Redis subscription -------------------------------------------------------------------------

    def _dispatch(self, message: str) -> None:
        kind, _, rest = message.partition(" ")
        if kind == "E":
            operator, seq, text = rest.split(" ", 2)
            # encode_frame writes "type" first: a card is told from its first bytes, without parsing
            at = time.perf_counter() if text.startswith('{"type":"CLIENT_CARD_READY"') else 0.0
            for conn in self._local.get(int(operator), ()):
                conn.offer(Item("frame", int(seq), text, at))
        elif kind == "S":
            session = uuid.UUID(rest)
            for conns in self._local.values():
                for conn in conns:
                    if conn.session_id == session:
                        conn.offer(Item("end", text="session ended"))

    async def _subscribe_forever(self) -> None:
        await run_forever("event subscription", self._subscribe)

    async def _subscribe(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel(self._settings))
            log.info("event subscription %s", "restored" if self._subscribed_once else "ready")
            self._subscribed_once = True
            beat("event subscription")
            heard = time.monotonic()
            while True:
                message = await pubsub.get_message(timeout=SILENCE_SECONDS / 2)
                if message is None:
                    # A quiet channel, or a server that died without closing the connection (a host lost,
                    # a network cut): ask, and give up the connection if even the answer does not come,
                    # so that the reconnect finds the current primary (Sentinel) instead of waiting on it.
                    if time.monotonic() - heard > SILENCE_SECONDS:
                        raise redis.exceptions.ConnectionError(f"no answer from Redis in {SILENCE_SECONDS:.0f} s")
                    await pubsub.ping()
                    continue
                heard = time.monotonic()
                if message.get("type") == "message":
                    data = message["data"]
                    self._dispatch(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    # -- sweep ----------------------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        sweeps = 0
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            sweeps += 1
            if not self._local:
                continue
            try:
                await self._sweep(touch=sweeps % TOUCH_EVERY_SWEEPS == 0)
            except asyncio.CancelledError:
                raise
            except DEPENDENCY_ERRORS as exc:
                log.warning("sweep skipped: %s", type(exc).__name__)
            except Exception:
                log.exception("sweep failed")

    async def _sweep(self, *, touch: bool) -> None:
        conns = [c for group in self._local.values() for c in group]
        sessions = list({c.session_id for c in conns})
        idle = self._settings.session_idle_timeout
        async with self._pool.acquire() as db:
            if touch:
                alive_rows = await db.fetch(
                    """UPDATE operator_sessions
                          SET idle_expires_at = least(now() + make_interval(secs => $2::int), absolute_expires_at),
                              last_seen_at = now()
                        WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL
                          AND idle_expires_at > now() AND absolute_expires_at > now()
                    RETURNING id""", sessions, idle)
            else:
                alive_rows = await db.fetch(
                    """SELECT s.id FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
                        WHERE s.id = ANY($1::uuid[]) AND s.revoked_at IS NULL AND NOT o.locked
                          AND s.idle_expires_at > now() AND s.absolute_expires_at > now()""", sessions)
            seqs = await queries.last_seqs(db, list(self._local))
        alive = {r["id"] for r in alive_rows}
        if time.monotonic() - self._seen_at >= self._seen_every:
            present = [c.operator_id for c in conns if c.session_id in alive and not c.ended]
            if present:
                await queries.sockets_seen(self._pool, present, self._settings.presence_grace_seconds)
            self._seen_at = time.monotonic()
        for conn in conns:
            if conn.session_id not in alive:
                conn.offer(Item("end", text="session ended"))
            elif seqs.get(conn.operator_id, 0) > conn.last_sent:
                conn.offer(Item("catchup", seqs[conn.operator_id]))
