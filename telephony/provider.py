"""The provider interface and its HTTP implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpx
import msgspec

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


def _decoded(parse: Callable[[bytes], T], response: httpx.Response) -> T:
    """A 2xx answer we cannot read counts as no answer: worth asking again (our requests are idempotent)."""
    try:
        return parse(response.content)
    except msgspec.DecodeError as exc:
        raise ProviderError("retry", response.status_code, f"unreadable answer: {exc}") from None


class ProviderError(Exception):
    def __init__(self, verdict: Verdict, status: int | None, detail: str) -> None:
        super().__init__(f"{verdict}: {status} {detail}")
        self.verdict = verdict
        self.status = status


class Provider(Protocol):
    async def open_session(self, login: str, password: str) -> str: ...
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


class HttpProvider:
    def __init__(self, base_url: str, *, api_key: str = "", timeout: float = 5.0) -> None:
        headers = {"X-Api-Key": api_key} if api_key else {}
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                         limits=httpx.Limits(max_connections=100, max_keepalive_connections=50))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:  # refused, reset, timed out: no answer
            raise ProviderError("retry", None, type(exc).__name__) from None
        if response.status_code >= 400:
            code = None
            try:
                code = response.json().get("code")
            except ValueError:
                pass
            raise ProviderError(classify(response.status_code, code), response.status_code, str(code))
        return response

    async def open_session(self, login: str, password: str) -> str:
        response = await self._call("POST", "/api/v1/sessions", json={"login": login, "password": password})
        return str(response.json()["sessionId"])

    async def close_session(self, session_id: str) -> None:
        try:
            await self._call("DELETE", f"/api/v1/sessions/{session_id}")
        except ProviderError as exc:
            if exc.verdict != "session_expired":
                raise

    async def set_status(self, session_id: str, status: str) -> None:
        await self._call("PUT", f"/api/v1/sessions/{session_id}/status", json={"status": status})

    async def events(self, session_id: str, after: int, limit: int = 100) -> EventsPage:
        response = await self._call("GET", f"/api/v1/sessions/{session_id}/events",
                                    params={"after": after, "limit": limit})
        return _decoded(parse_events_page, response)

    async def add_task(self, external_id: str, phone: str, idempotency_key: str) -> ProviderTask:
        """The key makes the ADD idempotent at the provider: sent twice, it answers with the first task."""
        response = await self._call("POST", "/api/v1/tasks", json={"externalId": external_id, "phone": phone},
                                    headers={"Idempotency-Key": idempotency_key})
        return _decoded(parse_task, response)

    async def find_tasks(self, external_id: str) -> list[ProviderTask]:
        response = await self._call("GET", "/api/v1/tasks", params={"externalId": external_id})
        return _decoded(parse_task_list, response)

    async def get_call(self, call_id: str) -> ProviderCall:
        response = await self._call("GET", f"/api/v1/calls/{call_id}")
        return _decoded(parse_call, response)

    async def end_call(self, call_id: str) -> None:
        await self._call("DELETE", f"/api/v1/calls/{call_id}")

    async def get_task(self, task_id: str) -> ProviderTask:
        response = await self._call("GET", f"/api/v1/tasks/{task_id}")
        return _decoded(parse_task, response)

    async def cancel_task(self, task_id: str) -> None:
        await self._call("DELETE", f"/api/v1/tasks/{task_id}")

    async def health(self) -> bool:
        try:
            await self._call("GET", "/api/v1/health")
        except ProviderError:
            return False
        return True
