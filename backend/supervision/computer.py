"""The floor computer: the one place the supervisors' floor is computed, once per change.

Runs in the worker, on one worker at a time (a leader lock in Redis). It

* listens to the operator events every change already publishes (Redis Pub/Sub, ``events.bus``) and applies
  each operator's events once, in seq order (a gap is read from ``operator_events`` by seq), keeping the
  counters incrementally: calls today, results saved in the window today, the last screen-pop latency, tasks
  done today per campaign, calls and screen-pop per minute;
* sweeps ``operator_states`` every ``SUPERVISOR_TICK_SECONDS`` for what changes without an event (a login,
  AWAY, OFFLINE) and reads the full row only of operators that changed;
* refreshes the campaign tiles and the error count with one aggregate query every
  ``SUPERVISOR_CAMPAIGN_REFRESH_SECONDS``;
* diffs the new floor against the one last published and, when anything differs, publishes one delta: in one
  Redis transaction it updates the published floor (hashes) and appends the delta, with the next seq, to the
  delta stream that every web process follows.

The counters are rebuilt from PostgreSQL whenever this process starts leading (and at midnight in
``OPERATOR_TIMEZONE``), in one REPEATABLE READ snapshot together with each operator's last seq, so every event
is counted exactly once: those up to that seq by the rebuild, later ones as they are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import redis.asyncio as aioredis

from backend.core.leader import LeaderLock
from backend.core.retry import beat, run_forever
from backend.core.settings import Settings
from backend.events import queries as events
from backend.events.bus import channel
from backend.supervision import keys, queries
from backend.supervision.floor import (
    CHART_MINUTES,
    Counters,
    Floor,
    Thresholds,
    alerts_for,
    campaign_view,
    changes,
    lead_counts,
    operator_view,
)

log = logging.getLogger("backend.supervision")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
BATCH_SECONDS = 0.05  # events arriving together are applied together
FULL_READ_SECONDS = 30.0  # every operator's row re-read (new operators, renames, locks)


def _fingerprint(row: Any) -> tuple[Any, ...]:
    return (row["state"], row["reason"], row["state_since"], row["pause_requested"], row["communication_id"],
            row["last_seq"], row["rework_communication_id"], row["rework_at"])


class FloorComputer:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self._zone = ZoneInfo(settings.operator_timezone)
        self.lock = LeaderLock(redis, keys.leader_key(settings), max(3.0, settings.supervisor_tick_seconds * 6))
        self._limits = Thresholds(settings.supervisor_alert_long_call_seconds * 1000,
                                  settings.supervisor_alert_wrap_up_seconds * 1000,
                                  settings.supervisor_alert_long_pause_seconds * 1000,
                                  settings.supervisor_alert_errors_per_minute)
        self._wake = asyncio.Event()
        self._pending: dict[int, dict[int, tuple[str, dict[str, Any]]]] = defaultdict(dict)
        self._leading = False
        self._reset()

    def _reset(self) -> None:
        self._ready = False
        self._day: Any = None
        self._processed: dict[int, int] = {}
        self._counters: dict[int, Counters] = defaultdict(Counters)
        self._done_today: dict[int, int] = defaultdict(int)
        self._chart: dict[int, dict[str, float]] = {}
        self._rows: dict[int, Any] = {}
        self._fingerprints: dict[int, tuple[Any, ...]] = {}
        self._tiles: list[Any] = []
        self._leads: dict[int, dict[str, Any]] = {}
        self._errors = 0
        self._errors_since: int | None = None
        self._published = Floor()
        self._dirty: set[int] = set()
        self._full_diff = True
        self.seq = 0
        self._last_sweep = 0.0
        self._last_full = 0.0
        self._last_campaigns = 0.0

    # -- the process's loops ------------------------------------------------------------------------------

    async def run(self) -> None:
        """The worker's task: the subscription and the computing loop, neither dying quietly."""
        await asyncio.gather(run_forever("floor subscription", self._subscribe),
                             run_forever("floor computer", self._loop))

    async def _subscribe(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel(self._settings))
            beat("floor subscription")
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is None or message.get("type") != "message" or not self._leading:
                    continue
                data = message["data"]
                self.take(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def take(self, message: str) -> None:
        """One published operator event (``E <operator> <seq> <frame>``); session ends are not ours."""
        kind, _, rest = message.partition(" ")
        if kind != "E":
            return
        operator, seq, text = rest.split(" ", 2)
        frame = _decode(text)
        pending = self._pending[int(operator)]
        if len(pending) < 10_000:  # a flood is read back from PostgreSQL by seq instead
            pending[int(seq)] = (frame["type"], frame.get("data") or {})
        self._wake.set()

    async def _loop(self) -> None:
        tick = self._settings.supervisor_tick_seconds
        interval = self._settings.supervisor_publish_seconds
        last = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), tick)
            # Events that come together are applied together, and one delta at most every ``interval``: at
            # 60 calls/s a step per event batch sent every supervisor socket ~19 frames a second, and those
            # sends, times 50 sockets, took CPU from the operators' cards on a 2-core box (bench/supervisors.py).
            await asyncio.sleep(max(BATCH_SECONDS, last + interval - time.monotonic()))
            self._wake.clear()
            last = time.monotonic()
            leading = await self.lock.hold()
            if leading != self._leading:
                log.info("floor computer: %s (%s)", "leading" if leading else "another worker leads", self.lock.token)
                self._leading = leading
                self._reset()
                self._pending.clear()
            if leading:
                await self.step()
            beat("floor computer")

    # -- one step -------------------------------------------------------------------------------------------

    def _today_start(self) -> datetime:
        now = datetime.now(self._zone)
        return now.replace(hour=0, minute=0, second=0, microsecond=0)

    async def rebuild(self) -> None:
        """Counters and rows from PostgreSQL, with each operator's last seq, in one snapshot."""
        today = self._today_start()
        async with self._pool.acquire() as db, db.transaction(isolation="repeatable_read", readonly=True):
            seqs = await queries.last_seqs(db)
            counters = await queries.operator_counters(db, today)
            done = await queries.campaign_calls_today(db, today)
            chart = await queries.chart_since(db, datetime.now(self._zone) - timedelta(minutes=CHART_MINUTES))
            rows = await queries.operator_rows(db)
        self._processed = dict(seqs)
        self._counters = defaultdict(Counters)
        for r in counters:
            self._counters[r["operator_id"]] = Counters(
                int(r["calls"]), int(r["in_window"]), None if r["last_pop"] is None else float(r["last_pop"]) * 1000)
        self._done_today = defaultdict(int, {r["campaign_id"]: int(r["calls"]) for r in done})
        self._chart = {int(r["minute"]): {"calls": int(r["calls"]), "popSumMs": float(r["pop_sum_ms"]),
                                          "popMaxMs": float(r["pop_max_ms"])} for r in chart}
        self._rows = {r["id"]: r for r in rows}
        self._fingerprints = {r["id"]: _fingerprint(r) for r in rows}
        self._day = today.date()
        self._last_full = time.monotonic()
        self._full_diff = True
        if not self._ready:
            await self._load_published()
        self._ready = True
        log.info("floor counters rebuilt from PostgreSQL: %d operator(s), %d campaign(s) with calls today",
                 len(rows), len(self._done_today))

    async def _load_published(self) -> None:
        """What was published before (by us or a previous leader), so the first delta is only what differs."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.seq_key(self._settings))
            for part in keys.PART_KEYS:
                pipe.hgetall(keys.key(self._settings, part))
            pipe.get(keys.key(self._settings, "errors"))
            seq, *parts, errors = await pipe.execute()
        self.seq = int(seq or 0)
        snapshot: dict[str, Any] = {part: {k.decode(): _decode(v) for k, v in raw.items()}
                                    for part, raw in zip(keys.PART_KEYS, parts, strict=True)}
        if errors:
            snapshot["errors"] = _decode(errors)
        self._published = Floor.load(snapshot)

    async def step(self) -> None:
        if not self._ready or self._day != self._today_start().date():
            await self.rebuild()
        now = time.monotonic()
        changed: set[int] = set(self._pending)
        targets: dict[int, int] = {op: max(p) for op, p in self._pending.items() if p}
        swept = now - self._last_sweep >= self._settings.supervisor_tick_seconds
        if swept:
            self._last_sweep = now
            for row in await queries.state_fingerprints(self._pool):
                op = row["operator_id"]
                fp = _fingerprint(row)
                if self._fingerprints.get(op) != fp:
                    changed.add(op)
                if row["last_seq"] > self._processed.get(op, 0):
                    targets[op] = max(targets.get(op, 0), row["last_seq"])
        if not await self._apply_events(targets):
            self._ready = False  # events were pruned before we saw them: count again from PostgreSQL
            await self.rebuild()
        full = now - self._last_full >= FULL_READ_SECONDS
        if full or changed:
            rows = await queries.operator_rows(self._pool, None if full else sorted(changed))
            for r in rows:
                self._rows[r["id"]] = r
                self._fingerprints[r["id"]] = _fingerprint(r)
                self._dirty.add(r["id"])
            if full:
                self._last_full = now
        if now - self._last_campaigns >= self._settings.supervisor_campaign_refresh_seconds:
            self._last_campaigns = now
            self._tiles = await queries.campaign_tiles(self._pool, self._settings.supervisor_dial_rate_minutes)
            self._leads = lead_counts(await queries.lead_figures(self._pool, self._today_start()))
            errors = await queries.errors_last_minute(self._pool)
            if errors >= self._limits.errors_per_minute and self._errors_since is None:
                self._errors_since = int(time.time() * 1000)
            elif errors < self._limits.errors_per_minute:
                self._errors_since = None
            self._errors = errors
        floor, _ = self.current(sweep=swept)
        try:
            await self.publish(floor)
        except BaseException:
            self._full_diff = True  # not published: the next step compares everything again
            raise
        self._full_diff = False
        self._dirty.clear()

    async def _apply_events(self, targets: dict[int, int]) -> bool:
        """Apply each operator's events after the last one applied, up to ``targets``; False if some are gone."""
        cards: list[int] = []
        complete = True
        for op, upto in targets.items():
            done = self._processed.get(op, 0)
            pending = self._pending.pop(op, {})
            if upto <= done:
                continue
            held = [pending.get(s) for s in range(done + 1, upto + 1)]
            have = [h for h in held if h is not None]
            if len(have) < len(held):
                rows = []
                after = done
                while after < upto:
                    batch = await events.events_between(self._pool, op, after, upto)
                    if not batch or batch[0]["seq"] != after + 1:
                        break
                    rows.extend(batch)
                    after = batch[-1]["seq"]
                if after < upto:
                    complete = False
                    continue
                have = [(r["event_type"], r["data"]) for r in rows]
            self._dirty.add(op)
            for event_type, data in have:
                counters = self._counters[op]
                if event_type == "CLIENT_CARD_READY":
                    counters.calls += 1
                    cards.append(int(data["communicationId"]))
                elif event_type == "RESULT_SAVED" and data.get("completedLate") is False:
                    counters.in_window += 1
            self._processed[op] = upto
        self._pending.clear()
        if cards:
            for card in await queries.cards(self._pool, cards):
                self._counters[card["operator_id"]].last_pop_ms = float(card["pop"]) * 1000
                self._dirty.add(card["operator_id"])
                self._done_today[card["campaign_id"]] += 1
                bucket = self._chart.setdefault(int(card["minute"]), {"calls": 0, "popSumMs": 0.0, "popMaxMs": 0.0})
                pop_ms = float(card["pop"]) * 1000
                bucket["calls"] += 1
                bucket["popSumMs"] += pop_ms
                bucket["popMaxMs"] = max(bucket["popMaxMs"], pop_ms)
            if len(self._chart) > CHART_MINUTES:
                for minute in sorted(self._chart)[:-CHART_MINUTES]:
                    del self._chart[minute]
        return complete

    def current(self, *, sweep: bool) -> tuple[Floor, set[str]]:
        """The floor's parts that may have changed, and which operators those are: the views of operators whose
        row or counters changed (all of them after a rebuild), the campaign tiles, the chart; alerts for
        every operator on a sweep (their clocks run without events), else for the changed ones."""
        every = self._full_diff
        ids = set(self._rows) if every else self._dirty & set(self._rows)
        now_ms = int(time.time() * 1000)
        if sweep:  # the rework idle window runs out without an event
            ids |= {int(k) for k, v in self._published.operators.items() if v.get("state") == "IN_REWORK"} & set(
                self._rows)
        idle_ms = self._settings.supervisor_rework_idle_seconds * 1000
        operators = {str(op): operator_view(self._rows[op], self._counters[op], now_ms, idle_ms) for op in ids}
        rate = self._settings.supervisor_dial_rate_minutes
        rules = self._leads
        campaigns = {str(t["id"]): campaign_view(t, self._done_today.get(t["id"], 0), rate, rules.get(t["id"]))
                     for t in self._tiles}
        if sweep or every:
            alerts = alerts_for({**self._published.operators, **operators}, self._errors, self._errors_since,
                                now_ms, self._limits)
        else:
            changed = {int(k) for k in operators}
            alerts = {k: v for k, v in self._published.alerts.items() if v.get("operatorId") not in changed}
            alerts.update(alerts_for(operators, 0, None, now_ms, self._limits))
        chart = {str(m): {"minute": m, "calls": int(b["calls"]),
                          "popAvgMs": round(b["popSumMs"] / b["calls"]) if b["calls"] else None,
                          "popMaxMs": round(b["popMaxMs"])} for m, b in self._chart.items()}
        floor = Floor(operators, campaigns or self._published.campaigns, alerts, chart, {"lastMinute": self._errors})
        return floor, set(operators)

    async def publish(self, floor: Floor) -> bool:
        """Publish what differs from the last published floor as one delta; False if nothing did. ``floor``
        holds only the operators that may have changed; campaigns, alerts and chart whole."""
        old = self._published
        delta: dict[str, Any] = {
            "operators": changes({k: v for k, v in old.operators.items() if k in floor.operators}, floor.operators,
                                 removals=False),
            "campaigns": changes(old.campaigns, floor.campaigns, removals=True),
            "alerts": changes(old.alerts, floor.alerts, removals=True),
            "chart": changes(old.chart, floor.chart, removals=True),
        }
        delta = {k: v for k, v in delta.items() if v}
        if floor.errors != old.errors:
            delta["errors"] = floor.errors
        if not delta:
            return False
        seq = self.seq + 1
        frame = _encode({"type": "FLOOR_DELTA", "seq": seq,
                         "data": {**delta, "serverTimeMs": int(time.time() * 1000)}})
        s = self._settings
        async with self._redis.pipeline(transaction=True) as pipe:
            for part in keys.PART_KEYS:
                items = delta.get(part) or {}
                upserts = {k: _encode(v) for k, v in items.items() if v is not None}
                removed = [k for k, v in items.items() if v is None]
                if upserts:
                    pipe.hset(keys.key(s, part), mapping=upserts)
                if removed:
                    pipe.hdel(keys.key(s, part), *removed)
            if "errors" in delta:
                pipe.set(keys.key(s, "errors"), _encode(delta["errors"]))
            pipe.set(keys.seq_key(s), seq)
            pipe.xadd(keys.stream(s), {"f": frame}, id=f"{seq}-1", maxlen=s.supervisor_delta_history,
                      approximate=True)
            await pipe.execute()
        self.seq = seq
        old.apply(delta)
        return True
