"""The web process's side of the floor: its copy of the published floor and its supervisor sockets.

One reader per process follows the delta stream (XREAD from the seq it holds) and applies each delta to its
copy, then hands the delta's text, as published, to every local supervisor socket: the cost of a change is
one decode per process, and a socket costs one send. A socket that joins gets the snapshot from this copy
(no query); one that resumes gets the deltas it missed from the recent ones held here, or a RESYNC with a
snapshot when they are older. A gap in the stream (trimmed while this process was away) or a seq that went
back (Redis lost its data) reloads the copy and sends every socket a RESYNC.

A sweep every second closes sockets whose session ended (one query per process for all of them).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis

from backend.core.errors import DEPENDENCY_ERRORS
from backend.core.retry import beat, cancel_and_wait, run_forever
from backend.core.settings import Settings
from backend.events.bus import encode_frame
from backend.supervision import keys, queries
from backend.supervision.floor import CHART_MINUTES, PARTS

log = logging.getLogger("backend.supervision.feed")
QUEUE_LIMIT = 512
SWEEP_SECONDS = 1.0
_NULL = msgspec.Raw(b"null")


class _Delta(msgspec.Struct):
    operators: dict[str, msgspec.Raw] = {}
    campaigns: dict[str, msgspec.Raw] = {}
    alerts: dict[str, msgspec.Raw] = {}
    chart: dict[str, msgspec.Raw] = {}
    errors: msgspec.Raw = msgspec.Raw()


class _Frame(msgspec.Struct):
    data: _Delta


_frame = msgspec.json.Decoder(_Frame)


class RawFloor:
    """This process's copy of the published floor, each item kept as its JSON text (``msgspec.Raw``) as the
    floor computer encoded it: a process only stores and re-sends items, never reads inside one, and a row
    decoded into Python objects was ~25 of them per operator, which every full garbage collection then walked
    (while supervisors watched, the deltas' objects lengthened the pauses cards waited through: README,
    bench/supervisors.py). Same shape and semantics as ``floor.Floor.apply`` (null: an alert cleared)."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, msgspec.Raw]] = {part: {} for part in PARTS}
        self.errors = msgspec.Raw(b'{"lastMinute":0}')

    def snapshot(self) -> dict[str, Any]:
        return {**self.parts, "errors": self.errors}

    def apply(self, delta: _Delta) -> None:
        for part in PARTS:
            target = self.parts[part]
            for key, value in getattr(delta, part).items():
                if value == _NULL:
                    target.pop(key, None)
                else:
                    target[key] = value.copy()  # not a view of the whole frame's buffer
        if delta.errors:
            self.errors = delta.errors.copy()
        chart = self.parts["chart"]
        if len(chart) > CHART_MINUTES:
            for key in sorted(chart, key=int)[:-CHART_MINUTES]:
                del chart[key]


@dataclass(eq=False)
class Watcher:
    """One supervisor socket: its own queue and sender, so a slow one delays nobody."""

    operator_id: int
    session_id: uuid.UUID
    send: Callable[[str], Awaitable[None]]
    close: Callable[[int, str], Awaitable[None]]
    last_sent: int = 0
    queue: asyncio.Queue[tuple[str, int, str]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    ended: bool = False

    def offer(self, kind: str, seq: int = 0, text: str = "") -> None:
        if self.ended:
            return
        try:
            self.queue.put_nowait((kind, seq, text))
        except asyncio.QueueFull:
            # Too far behind: drop what is queued and send a snapshot instead.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(("end", 0, "") if kind == "end" else ("resync", 0, "client too slow"))


class SupervisorFeed:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self.floor = RawFloor()
        self.seq = 0
        self.loaded = asyncio.Event()
        self._recent: deque[tuple[int, str]] = deque(maxlen=min(settings.supervisor_delta_history, 5000))
        self._watchers: set[Watcher] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._snapshot_text: tuple[int, str] | None = None

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(run_forever("floor feed", self._follow), name="floor-feed"),
                       asyncio.create_task(self._sweep_forever(), name="floor-sweep")]

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        for watcher in list(self._watchers):
            watcher.offer("end", text="server shutting down")

    # -- watchers -----------------------------------------------------------------------------------------

    def register(self, watcher: Watcher) -> None:
        self._watchers.add(watcher)

    def unregister(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def watchers_of(self, operator_id: int) -> int:
        return sum(1 for w in self._watchers if w.operator_id == operator_id)

    def snapshot(self) -> dict[str, Any]:
        return {"lastSeq": self.seq, "serverTimeMs": int(time.time() * 1000), "floor": self.floor.snapshot()}

    def snapshot_json(self) -> str:
        """The floor as JSON text, encoded once per seq however many sockets ask for it."""
        if self._snapshot_text is None or self._snapshot_text[0] != self.seq:
            self._snapshot_text = (self.seq, msgspec.json.encode(self.floor.snapshot()).decode())
        return self._snapshot_text[1]

    def resync_frame(self, reason: str) -> str:
        head = msgspec.json.encode({"reason": reason, "lastSeq": self.seq, "serverTimeMs": int(time.time() * 1000)})
        return f'{{"type":"RESYNC","seq":{self.seq},"data":{head.decode()[:-1]},"floor":{self.snapshot_json()}}}}}'

    def missed_since(self, last_seq: int) -> list[tuple[int, str]] | None:
        """The deltas after ``last_seq`` held here, or None when some are no longer held."""
        if last_seq == self.seq:
            return []
        if last_seq > self.seq or not self._recent or self._recent[0][0] > last_seq + 1:
            return None
        return [(s, t) for s, t in self._recent if s > last_seq]

    async def run_sender(self, watcher: Watcher) -> None:
        """Send the socket's queue in order, each seq once. A send that fails (the browser went away) ends
        the socket quietly, as the operator hub's sender does: a supervisor closing a tab is no error."""
        try:
            while True:
                kind, seq, text = await watcher.queue.get()
                if kind == "end":
                    watcher.ended = True
                    await watcher.send(encode_frame("SESSION_ENDED", None, {"reason": text}))
                    await watcher.close(4401, "session ended")
                    return
                if kind == "raw":
                    await watcher.send(text)
                elif kind == "resync":
                    await watcher.send(self.resync_frame(text))
                    watcher.last_sent = self.seq
                elif seq > watcher.last_sent:
                    await watcher.send(text)
                    watcher.last_sent = seq
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("floor socket of %s ended: %s", watcher.operator_id, type(exc).__name__)
            watcher.ended = True
            await watcher.close(1011, "send failed")

    # -- following the delta stream --------------------------------------------------------------------------

    async def _load(self, reason: str | None) -> None:
        s = self._settings
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.seq_key(s))
            for part in keys.PART_KEYS:
                pipe.hgetall(keys.key(s, part))
            pipe.get(keys.key(s, "errors"))
            seq, *parts, errors = await pipe.execute()
        floor = RawFloor()
        floor.apply(_Delta(**{part: {k.decode(): msgspec.Raw(v) for k, v in raw.items()}
                              for part, raw in zip(keys.PART_KEYS, parts, strict=True)},
                           errors=msgspec.Raw(errors or b"")))
        self.floor = floor
        self.seq = int(seq or 0)
        self._recent.clear()
        self.loaded.set()
        if reason is not None:
            log.info("floor reloaded at seq %d (%s); %d socket(s) resynced", self.seq, reason, len(self._watchers))
            for watcher in self._watchers:
                watcher.offer("resync", text=reason)

    async def _follow(self) -> None:
        await self._load("feed restarted" if self.loaded.is_set() else None)
        beat("floor feed")
        name = keys.stream(self._settings)
        block_ms = max(100, int(min(2.0, self._settings.dependency_timeout / 2) * 1000))  # within socket_timeout
        quiet = 0
        while True:
            answer: Any = await self._redis.xread({name: f"{self.seq}-1"}, count=500, block=block_ms)
            if not answer:
                quiet += 1
                if quiet % 3 == 0:  # nothing for a while: did the seq go back (Redis lost its data)?
                    current = int(await self._redis.get(keys.seq_key(self._settings)) or 0)
                    if current < self.seq:
                        await self._load("floor seq went back")
                continue
            quiet = 0
            for entry_id, fields in answer[0][1]:
                seq = int((entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0])
                if seq <= self.seq:
                    continue
                if seq != self.seq + 1:
                    await self._load(f"deltas {self.seq + 1}..{seq - 1} no longer held")
                    break
                text = fields[b"f"].decode()
                self.floor.apply(_frame.decode(text).data)
                self.seq = seq
                self._recent.append((seq, text))
                for watcher in self._watchers:
                    watcher.offer("frame", seq, text)

    # -- sessions ----------------------------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            if not self._watchers:
                continue
            try:
                sessions = list({w.session_id for w in self._watchers})
                alive = await queries.live_sessions(self._pool, sessions)
                for watcher in list(self._watchers):
                    if watcher.session_id not in alive:
                        watcher.offer("end", text="session ended")
            except asyncio.CancelledError:
                raise
            except DEPENDENCY_ERRORS as exc:
                log.warning("floor sweep skipped: %s", type(exc).__name__)
            except Exception:
                log.exception("floor sweep failed")
