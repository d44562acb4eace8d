"""Which telephony process polls and commands which operator: leases in Redis, fencing tokens in PostgreSQL.

Any number of ``telephony`` processes share the operators. Why leases and not a fixed partition (consistent
hashing of operators over processes): a partition needs an agreed membership to be safe, and membership is
exactly what changes when a process dies or pauses; a lease per operator is safe on its own (one holder at a
time, by Redis's SET NX) and the fencing token makes even a holder that lost it without noticing harmless.
Rendezvous hashing is still used, but only as each process's order of preference when it picks up free
operators, so that a dead process's operators spread over the survivors.

* **Lease**: ``<prefix>telephony:lease:<operator>`` holds the holder's instance id, with an expiry of
  ``TELEPHONY_LEASE_SECONDS``; renewed every third of it. A process that dies (kill -9) stops renewing, so
  within the TTL plus one renewal its operators are taken up by the others, from the cursor saved in
  PostgreSQL (the provider session stays open: polling resumes where it stopped).
* **Fencing token**: whenever a lease is taken, the operator's token in ``telephony_leases`` goes up (in
  PostgreSQL, so a Redis that lost everything can never hand out a lower one). Every write about the operator
  — its session row, its event cursor, its dead letters — carries the token and is refused if it is no longer
  the current one (``queries._LEASE``: the lease row FOR SHARE); the events themselves go on the call-event
  stream through a Lua script that appends only while the lease key names us. Before each provider request
  about the operator (poll, availability, session open/close) the lease is checked on our own clock
  (``Context.token``): a process paused past its lease (SIGSTOP, a long GC, a VM freeze) sends nothing once
  it wakes, and what it had in flight is refused at the write.
* **Balance**: live processes beat in a sorted set (score = expiry, Redis's clock). Each holds at most its
  share, ceil(operators / live processes), plus ``TELEPHONY_LEASE_SLACK`` before it hands the excess back;
  below its share it takes free operators in its rendezvous order. A new process so gets its share within a
  few renewals.
* **Redis restart** (every lease lost): a process re-takes at its next renewal a lease it still believes it
  holds (SET NX, if nobody took it first). The first beat after the loss finds the epoch key gone and starts
  a quiet period of one TTL in which nobody takes a free lease: by its end each old holder has re-taken its
  leases or seen them lapse on its own clock, so two never poll one operator. (Not on a first start: with no
  lease ever issued in PostgreSQL, nobody can hold one.) (A Sentinel failover that
  loses only the last writes keeps the epoch: a lease just taken may be lost and taken by another; the
  first holder finds out at its next renewal, ttl/3 at most, and the fencing token refuses its writes.)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from typing import Any

from telephony import queries
from telephony.context import Active, Context, Lease

log = logging.getLogger("telephony")

# KEYS: members (sorted set: instance -> expiry in ms), epoch, quiet; ARGV: instance, ttl ms.
# Returns {live processes, ms of quiet left}. A missing epoch key means a Redis that lost its data (or a first
# start): for one TTL nobody takes a free lease, so that every process that still believes it holds one either
# re-takes it (renewal) or sees it lapse on its own clock before anyone else can poll the operator.
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], now)
    redis.call('SET', KEYS[3], 1, 'PX', ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 10)
return {redis.call('ZCARD', KEYS[1]), redis.call('PTTL', KEYS[3])}
"""

# KEYS: lease keys; ARGV: instance, ttl ms. Renews ours, re-takes one nobody holds (Redis lost it); 1/0 each.
_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
    local holder = redis.call('GET', key)
    if holder == ARGV[1] then
        redis.call('PEXPIRE', key, ARGV[2])
        out[i] = 1
    elseif not holder then
        redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
        out[i] = 1
    else
        out[i] = 0
    end
end
return out
"""

# KEYS: lease keys in our order of preference; ARGV: instance, ttl ms, how many. The indexes (1-based) taken.
_ACQUIRE = """
local out = {}
local room = tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
    if #out >= room then break end
    if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
        out[#out + 1] = i
    end
end
return out
"""

# KEYS: lease keys; ARGV: instance. Deletes those that still name us (compare-and-delete).
_RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[1] then
        redis.call('DEL', key)
        n = n + 1
    end
end
return n
"""

# KEYS[1] lease key, KEYS[2] stream; ARGV: instance, events (JSON). Appends only while the lease names us.
APPEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return -1
end
for i = 2, #ARGV do
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000000, '*', 'event', ARGV[i], 'by', ARGV[1])
end
return #ARGV - 1
"""


def preference(instance: str, operator_id: int) -> bytes:
    """Rendezvous hashing: each process's own order of the operators (highest first)."""
    return hashlib.blake2b(f"{instance}:{operator_id}".encode(), digest_size=8).digest()


class Leases:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        settings = ctx.settings
        self.ttl = settings.telephony_lease_seconds
        self._ttl_ms = max(1, int(self.ttl * 1000))
        self._slack = settings.telephony_lease_slack
        self._prefix = settings.redis_key_prefix + "telephony:"
        self._members = self._prefix + "members"
        self.live_processes = 1
        self._quiet_until = -math.inf
        self._beaten = False  # no lease is taken before our first beat says whether Redis lost its data

    def key(self, operator_id: int) -> str:
        return f"{self._prefix}lease:{operator_id}"

    async def renew(self) -> None:
        """Beat and renew what we hold: Redis only, in a loop of its own, so that PostgreSQL being away
        (``balance`` fails) never lets our leases lapse."""
        ctx = self._ctx
        sent_at = asyncio.get_running_loop().time()
        live, quiet_ms = await ctx.redis.eval(_BEAT, 3, self._members, self._prefix + "epoch", self._prefix + "quiet",
                                              ctx.instance, self._ttl_ms)
        self.live_processes = max(1, int(live))
        self._beaten = True
        quiet_until = sent_at + max(0, int(quiet_ms)) / 1000
        if int(quiet_ms) > 0 and self._quiet_until < sent_at:  # once per quiet period, not at every beat
            log.info("no lease data in Redis (a first start, or Redis lost it): unless no lease was ever "
                     "issued, taking no free lease for %.1f s", int(quiet_ms) / 1000)
        self._quiet_until = quiet_until
        await self._renew()

    async def balance(self) -> list[int]:
        """Hand back the excess or take up our share. Returns what we took."""
        ctx = self._ctx
        wanted = await queries.wanted_operators(ctx.pool)
        gone = [op for op in ctx.leases if op not in wanted and op not in ctx.active]
        if gone:  # logged out and closed: nothing left to do for them
            await self.release(gone)
        share = math.ceil(len(wanted) / self.live_processes)
        held = len(ctx.leases)
        taken: list[int] = []
        if held > share + self._slack:
            mine = sorted(ctx.leases, key=lambda op: preference(ctx.instance, op))  # least preferred first
            await self.release(mine[:held - share])
        elif held < share:
            free = sorted(wanted - ctx.leases.keys(), key=lambda op: preference(ctx.instance, op), reverse=True)
            taken = await self.acquire(free, share - held)
        ctx.metrics.leases_held.set(len(ctx.leases))
        return taken

    async def _renew(self) -> None:
        ctx = self._ctx
        if not ctx.leases:
            return
        loop = asyncio.get_running_loop()
        ops = list(ctx.leases)
        sent_at = loop.time()
        result: Any = await ctx.redis.eval(_RENEW, len(ops), *[self.key(op) for op in ops], ctx.instance,
                                           self._ttl_ms)
        for op, ok in zip(ops, result, strict=True):
            lease = ctx.leases.get(op)
            if lease is None:
                continue
            if int(ok):
                lease.valid_until = sent_at + self.ttl
            else:
                log.warning("lease of operator %s was taken by another process", op)
                self.drop(op)

    async def acquire(self, candidates: list[int], room: int) -> list[int]:
        """Take up to ``room`` of the candidates that nobody holds; each gets a new fencing token and its
        saved provider session and cursor, so polling resumes where the previous holder stopped."""
        ctx = self._ctx
        loop = asyncio.get_running_loop()
        if room <= 0 or not candidates or not self._beaten:
            return []
        if loop.time() < self._quiet_until:
            if await queries.any_lease_issued(ctx.pool):
                return []
            # A first start: no lease was ever issued, so none can be held; the others need not wait either.
            await ctx.redis.delete(self._prefix + "quiet")
            self._quiet_until = -math.inf
        sent_at = loop.time()
        picked: Any = await ctx.redis.eval(_ACQUIRE, len(candidates), *[self.key(op) for op in candidates],
                                           ctx.instance, self._ttl_ms, room)
        ops = [candidates[int(i) - 1] for i in picked]
        if not ops:
            return []
        try:
            tokens = await queries.take_tokens(ctx.pool, ops, ctx.instance)
            rows = await queries.sessions_of(ctx.pool, ops)
        except BaseException:
            await self._release_keys(ops)  # never hold a lease in Redis without its token
            raise
        for op in ops:
            if op not in tokens:  # the operator was deleted meanwhile
                await self._release_keys([op])
                continue
            ctx.leases[op] = Lease(tokens[op], sent_at + self.ttl)
            ctx.active.pop(op, None)  # whatever we knew of it is stale now
        for r in rows:
            op = r["operator_id"]
            if op in ctx.leases and r["provider_session_id"]:
                ctx.active[op] = Active(op, r["provider_session_id"], int(r["event_cursor"] or 0),
                                        ctx.leases[op].token)
        ctx.metrics.leases_taken.inc(len(tokens))
        ctx.metrics.leases_held.set(len(ctx.leases))
        ctx.metrics.active_sessions.set(len(ctx.active))
        log.info("took the leases of %d operator(s) (%d now)", len(tokens), len(ctx.leases))
        return [op for op in ops if op in tokens]

    def drop(self, operator_id: int) -> None:
        """Stop serving an operator at once (its polling task ends at its next slot)."""
        ctx = self._ctx
        if ctx.leases.pop(operator_id, None) is not None:
            ctx.metrics.leases_lost.inc()
        ctx.active.pop(operator_id, None)
        ctx.metrics.leases_held.set(len(ctx.leases))
        ctx.metrics.active_sessions.set(len(ctx.active))

    async def lost(self, operator_id: int) -> None:
        """A write under our token was refused: another process has the operator now."""
        log.warning("operator %s: a write was refused, the lease moved on; letting it go", operator_id)
        self._ctx.metrics.fenced.inc()
        self.drop(operator_id)

    async def release(self, operator_ids: list[int]) -> None:
        ctx = self._ctx
        for op in operator_ids:
            ctx.leases.pop(op, None)
            ctx.active.pop(op, None)
        await self._release_keys(operator_ids)
        ctx.metrics.leases_held.set(len(ctx.leases))
        ctx.metrics.active_sessions.set(len(ctx.active))

    async def _release_keys(self, operator_ids: list[int]) -> None:
        if operator_ids:
            await self._ctx.redis.eval(_RELEASE, len(operator_ids), *[self.key(op) for op in operator_ids],
                                       self._ctx.instance)

    async def leave(self) -> None:
        """A clean stop: hand everything back at once, so the others need not wait for the TTL."""
        ctx = self._ctx
        await self.release(list(ctx.leases))
        await ctx.redis.zrem(self._members, ctx.instance)
