"""The outbox's worker side: deliver outcome pushes at least once.

Each pass a worker claims due PENDING pushes under a lease (``EXCHANGE_PUSH_LEASE_SECONDS``; SKIP LOCKED, so
workers share them; a worker killed mid-delivery leaves its claims to be taken again when the lease runs
out), POSTs each body signed like our telephony webhook, with its delivery id, and records the outcome only
while the claim is still its own. 2xx: DELIVERED. Anything else (an error status, a timeout, no
connection): another attempt after a jittered backoff doubling from 1 s to ``EXCHANGE_RETRY_MAX_SECONDS``,
until the push is ``EXCHANGE_PUSH_MAX_AGE_SECONDS`` old: FAILED (admins list and re-send those). A push may
thus arrive more than once (a receiver that processed it but whose answer was lost): the delivery id lets
the receiver drop repeats. The same pass closes exchange tasks past their validity (EXPIRED)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid

import asyncpg
import httpx

from backend.core.settings import Settings
from backend.exchange import queries, signing

log = logging.getLogger("backend.exchange.delivery")
BATCH = 50
EXPIRY_BATCH = 200


def retry_delay(attempts: int, max_seconds: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 1 s doubling, capped, with ±25 % jitter."""
    base = min(max_seconds, 2.0 ** min(max(attempts - 1, 0), 30))
    return float(max(0.1, base * random.uniform(0.75, 1.25)))  # noqa: S311 - jitter, not security


class Deliveries:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self._pool = pool
        self._settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._http = http or httpx.AsyncClient(timeout=settings.exchange_push_timeout_seconds,
                                               follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def tick(self) -> int:
        """One pass: expire what is past validity, then deliver every due push (batch after batch)."""
        async with self._pool.acquire() as conn, conn.transaction():
            expired = await queries.expire_open(conn, EXPIRY_BATCH)
        if expired:
            log.info("exchange: %d task(s) closed EXPIRED (past their validity)", expired)
        total = 0
        while True:
            rows = await queries.claim_due(self._pool, self.owner, self._settings.exchange_push_lease_seconds, BATCH)
            if not rows:
                return total
            await asyncio.gather(*(self._deliver(row) for row in rows))
            total += len(rows)
            if len(rows) < BATCH:
                return total

    async def _deliver(self, row: asyncpg.Record) -> None:
        body: bytes = row["body"].encode()
        attempt = int(row["attempts"]) + 1
        headers = {"Content-Type": "application/json", signing.DELIVERY_ID: row["delivery_id"],
                   signing.ATTEMPT: str(attempt), **signing.headers(row["signing_secret"], int(time.time()), body)}
        status: int | None = None
        error = ""
        try:
            if not row["push_url"]:
                raise ValueError("the client has no push URL any more")
            response = await self._http.post(row["push_url"], content=body, headers=headers)
            status = response.status_code
            if 200 <= status < 300:
                if await queries.delivered(self._pool, row["id"], self.owner, status):
                    log.info("exchange: push %s delivered (attempt %d)", row["delivery_id"], attempt)
                return
            error = f"HTTP {status}"
        except (httpx.HTTPError, ValueError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        delay = retry_delay(attempt, self._settings.exchange_retry_max_seconds)
        state = await queries.failed_attempt(self._pool, row["id"], self.owner, status, error, delay,
                                             self._settings.exchange_push_max_age_seconds)
        if state == "FAILED":
            log.error("exchange: push %s FAILED after %d attempts: %s", row["delivery_id"], attempt, error)
        else:
            log.warning("exchange: push %s attempt %d failed (%s); next in %.1f s", row["delivery_id"], attempt,
                        error, delay)
