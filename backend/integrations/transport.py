"""One integration service's HTTP client: a pool of keep-alive connections, a semaphore bounding the
requests in flight, a circuit breaker, and the project's retry policy with a bounded number of tries.

aiohttp rather than httpx for the reason telephony/provider.py measured (a tenth of the client CPU per
request). ``send`` never raises for a service failure: it answers the request's checks, or one ERROR check
per lead naming why (TIMEOUT, CONNECTION, HTTP_<status>, BAD_RESPONSE, CIRCUIT_OPEN).

Which failures are tried again: a timeout, a lost connection, 429 and 5xx (transient). A 4xx other than
429 (our request is wrong) and a garbage 2xx body are not. Every try's outcome goes to the breaker: a
timeout, connection error, 429/5xx or garbage is a failure; any other answer (even a 4xx) shows the service
is up. While the breaker is open, nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any

import aiohttp

from backend.core.metrics import INTEGRATION_SECONDS
from backend.core.retry import retrying
from backend.integrations.breaker import Breaker
from backend.integrations.checks import Check
from backend.integrations.wire import BadResponse, Request

log = logging.getLogger("backend.integrations")
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
RECENT_SECONDS = 60.0


class Failure(Exception):
    """A try failed; ``transient`` ones are tried again while tries are left."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def _transient(exc: Exception) -> bool:
    return isinstance(exc, Failure) and exc.transient


class ServiceClient:
    def __init__(self, name: str, base_url: str, *, concurrency: int, timeout: float, attempts: int,
                 breaker: Breaker) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.breaker = breaker
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.semaphore = asyncio.Semaphore(concurrency)
        # One keep-alive connection per request in flight; the semaphore keeps us within them.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60, ttl_dns_cache=300),
            headers=_HEADERS, raise_for_status=False)
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.errors: Counter[str] = Counter()
        self._recent: deque[float] = deque(maxlen=10_000)

    async def close(self) -> None:
        await self.session.close()

    async def run(self, requests: Sequence[Request]) -> list[Check]:
        """All the requests at once (the semaphore lets ``concurrency`` of them out), their checks in order."""
        if len(requests) == 1:
            return await self.send(requests[0])
        parts = await asyncio.gather(*(self.send(request) for request in requests))
        return [check for part in parts for check in part]

    async def send(self, request: Request) -> list[Check]:
        try:
            async for attempt in retrying(_transient, attempts=self.attempts):
                with attempt:
                    return await self._try(request)
        except Failure as exc:
            return self._failed(request, exc.reason)
        except Exception:
            log.exception("integration %s: unexpected failure of %s", self.name, request.path)
            return self._failed(request, "CLIENT_ERROR")
        raise AssertionError("unreachable: retrying either returns or raises")

    def _failed(self, request: Request, reason: str) -> list[Check]:
        self.errors[reason] += 1
        self._recent.append(time.monotonic())
        error = Check(outcome="ERROR", reason=reason)
        return [error] * len(request.leads)

    async def _try(self, request: Request) -> list[Check]:
        started = time.perf_counter()
        outcome = "error"
        try:
            checks = await self._attempt(request)
            outcome = "ok"
            return checks
        finally:
            INTEGRATION_SECONDS.labels(self.name, outcome).observe(time.perf_counter() - started)

    async def _attempt(self, request: Request) -> list[Check]:
        async with self.semaphore:
            if not self.breaker.allow():
                raise Failure("CIRCUIT_OPEN", transient=False)
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                async with self.session.post(self.base_url + request.path, data=request.body,
                                             timeout=self.timeout) as response:
                    status, body = response.status, await response.read()
            except TimeoutError:
                self.breaker.failure()
                raise Failure("TIMEOUT", transient=True) from None
            except aiohttp.ClientError as exc:
                self.breaker.failure()
                log.warning("integration %s: %s: %s", self.name, type(exc).__name__, exc)
                raise Failure("CONNECTION", transient=True) from None
            except BaseException:
                self.breaker.abandon()
                raise
            finally:
                self.in_flight -= 1
        if status == 429 or status >= 500:
            self.breaker.failure()
            raise Failure(f"HTTP_{status}", transient=True)
        if not 200 <= status < 300:
            self.breaker.success()
            log.error("integration %s: %s answered %s: %s", self.name, request.path, status, body[:200])
            raise Failure(f"HTTP_{status}", transient=False)
        try:
            checks = request.parse(body)
        except BadResponse as exc:
            self.breaker.failure()
            log.warning("integration %s: garbage from %s: %s", self.name, request.path, exc)
            raise Failure("BAD_RESPONSE", transient=False) from None
        self.breaker.success()
        return checks

    def health(self) -> dict[str, Any]:
        now = time.monotonic()
        while self._recent and now - self._recent[0] > RECENT_SECONDS:
            self._recent.popleft()
        return {**self.breaker.as_dict(), "requests": self.requests, "inFlight": self.in_flight,
                "maxInFlight": self.max_in_flight, "errorsLastMinute": len(self._recent),
                "errors": dict(self.errors)}
