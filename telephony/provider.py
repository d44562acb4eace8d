"""The provider interface and its HTTP implementation.

The client is ``telephony.http.HttpClient`` (asyncio transports and httptools' parser) over one bounded pool of
HTTP/1.1 keep-alive connections (POLL_CONCURRENCY), bodies encoded and parsed with msgspec; that module says
why it replaced aiohttp (httpx, before that, could not reach 1,000 polls/s at all).

``PROVIDER_RATE_LIMIT`` caps the requests per second of this process (all kinds): above it, requests wait
their turn, spaced evenly, so a large floor is polled less often instead of overloading the provider. A
``Retry-After`` the provider sends with 429 or 5xx is kept on the ProviderError for the caller to honour.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode

import msgspec

from backend.core.metrics import PROVIDER_SECONDS
from telephony.http import HttpClient, NoAnswer
from telephony.parsing import (
    EventsPage,
    ProviderCall,
    ProviderTask,
    Verdict,
    classify,
    parse_call,
    parse_events_page,
    parse_task,
    parse_task_list,
)

T = TypeVar("T")
MAX_RETRY_AFTER = 300.0  # a provider asking for longer is waited on this long, then asked again


class ProviderError(Exception):
    def __init__(self, verdict: Verdict, status: int | None, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{verdict}: {status} {detail}")
        self.verdict = verdict
        self.status = status
        self.retry_after = retry_after  # seconds the provider asked us to wait (Retry-After), if it did


class _Answer(msgspec.Struct):
    code: str | None = None


_answer = msgspec.json.Decoder(_Answer)


def _decoded(parse: Callable[[bytes], T], status: int, body: bytes) -> T:
    """A 2xx answer we cannot read counts as no answer: worth asking again (our requests are idempotent)."""
    try:
        return parse(body)
    except msgspec.DecodeError as exc:
        raise ProviderError("retry", status, f"unreadable answer: {exc}") from None


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date), None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class Pacer:
    """At most ``rate`` turns per second, spaced evenly (0: no limit); callers past it wait their turn."""

    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def turn(self) -> None:
        if not self._gap:
            return
        now = time.monotonic()
        slot = self._next if self._next > now else now
        self._next = slot + self._gap
        if slot > now:
            await asyncio.sleep(slot - now)


class Provider(Protocol):
    async def open_session(self, login: str, password: str, idempotency_key: str,
                           status: str = "READY") -> str: ...
    async def close_session(self, session_id: str) -> None: ...
    async def set_status(self, session_id: str, status: str) -> None: ...
    async def events(self, session_id: str, after: int, limit: int = 100) -> EventsPage: ...
    async def add_task(self, external_id: str, phone: str, idempotency_key: str) -> ProviderTask: ...
    async def find_tasks(self, external_id: str) -> list[ProviderTask]: ...
    async def get_task(self, task_id: str) -> ProviderTask: ...
    async def cancel_task(self, task_id: str) -> None: ...
    async def get_call(self, call_id: str) -> ProviderCall: ...
    async def end_call(self, call_id: str) -> None: ...
    async def health(self) -> bool: ...


_JSON = {"Content-Type": "application/json"}


class HttpProvider:
    def __init__(self, base_url: str, *, api_key: str = "", timeout: float = 5.0, connections: int = 50,
                 rate_limit: float = 0.0, agent: str = "") -> None:
        headers = {"X-Api-Key": api_key} if api_key else {}
        if agent:  # which of several telephony processes sent a request (the provider's logs, the simulator)
            headers["User-Agent"] = f"tm-telephony/{agent}"
        # keepalive below the usual servers' 5 s: we stop reusing an idle connection before they close it.
        self._http = HttpClient(base_url, headers=headers, timeout=timeout, connections=connections, keepalive=4.0)
        self._pacer = Pacer(rate_limit)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, body: Any = None,
                       headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """(status, body) of a 2xx answer; anything else raises ProviderError with the verdict of classify."""
        await self._pacer.turn()
        started = time.perf_counter()
        outcome = "error"
        try:
            answer = await self._send(method, path, body, headers)
            outcome = "ok"
            return answer
        finally:
            PROVIDER_SECONDS.labels(outcome).observe(time.perf_counter() - started)

    async def _send(self, method: str, path: str, body: Any, headers: dict[str, str] | None) -> tuple[int, bytes]:
        data = None
        if body is not None:
            data = msgspec.json.encode(body)
            headers = {**_JSON, **headers} if headers else _JSON
        try:
            status, content, after = await self._http.request(method, path, data, headers)
        except NoAnswer as exc:  # refused, reset, timed out, garbled: no answer
            raise ProviderError("retry", None, str(exc)) from None
        if status >= 400:
            code = None
            try:
                code = _answer.decode(content).code
            except msgspec.DecodeError:
                pass
            raise ProviderError(classify(status, code), status, str(code), retry_after(after))
        return status, content

    async def open_session(self, login: str, password: str, idempotency_key: str,
                           status: str = "READY") -> str:
        """The key makes a repeated open (its answer lost, or another process of ours opening for the same
        operator) return the session already open rather than a second one, READY and ringing unread. The
        session opens in ``status``, so one opened for an operator on a call is never READY for a moment (a
        provider that ignores the field opens it READY; the caller then says BUSY right after)."""
        code, body = await self._request("POST", "/api/v1/sessions",
                                         {"login": login, "password": password, "status": status},
                                         headers={"Idempotency-Key": idempotency_key})
        return _decoded(_session_id, code, body)

    async def close_session(self, session_id: str) -> None:
        try:
            await self._request("DELETE", f"/api/v1/sessions/{_q(session_id)}")
        except ProviderError as exc:
            if exc.verdict != "session_expired":
                raise

    async def set_status(self, session_id: str, status: str) -> None:
        await self._request("PUT", f"/api/v1/sessions/{_q(session_id)}/status", {"status": status})

    async def events(self, session_id: str, after: int, limit: int = 100) -> EventsPage:
        status, body = await self._request("GET", f"/api/v1/sessions/{_q(session_id)}/events?after={after}"
                                                  f"&limit={limit}")
        return _decoded(parse_events_page, status, body)

    async def add_task(self, external_id: str, phone: str, idempotency_key: str) -> ProviderTask:
        """The key makes the ADD idempotent at the provider: sent twice, it answers with the first task."""
        status, body = await self._request("POST", "/api/v1/tasks", {"externalId": external_id, "phone": phone},
                                           {"Idempotency-Key": idempotency_key})
        return _decoded(parse_task, status, body)

    async def find_tasks(self, external_id: str) -> list[ProviderTask]:
        status, body = await self._request("GET", "/api/v1/tasks?" + urlencode({"externalId": external_id}))
        return _decoded(parse_task_list, status, body)

    async def get_call(self, call_id: str) -> ProviderCall:
        status, body = await self._request("GET", f"/api/v1/calls/{_q(call_id)}")
        return _decoded(parse_call, status, body)

    async def end_call(self, call_id: str) -> None:
        await self._request("DELETE", f"/api/v1/calls/{_q(call_id)}")

    async def get_task(self, task_id: str) -> ProviderTask:
        status, body = await self._request("GET", f"/api/v1/tasks/{_q(task_id)}")
        return _decoded(parse_task, status, body)

    async def cancel_task(self, task_id: str) -> None:
        await self._request("DELETE", f"/api/v1/tasks/{_q(task_id)}")

    async def health(self) -> bool:
        try:
            await self._request("GET", "/api/v1/health")
        except ProviderError:
            return False
        return True


def _q(segment: str) -> str:
    """An id as one path segment (provider ids are opaque strings)."""
    return quote(segment, safe="-._~")


class _Session(msgspec.Struct):
    sessionId: str | int


def _session_id(raw: bytes) -> str:
    return str(msgspec.json.decode(raw, type=_Session).sessionId)
