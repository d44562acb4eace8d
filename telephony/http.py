"""A small HTTP/1.1 keep-alive client for the provider's API: asyncio transports (uvloop's, in C), httptools'
response parser (the one uvicorn serves with), one bounded pool of connections, TLS by the standard ``ssl``.

Why not aiohttp, which this replaced: polling 1,000 operators twice a second is 2,000 requests a second, and
in that process py-spy put ~60 % of the samples in aiohttp's request machinery (request and response objects,
header multidicts, URL building, a timer per request, auto headers); the process took ~80 % of a core with no
call in progress. What the provider API needs is narrow — small JSON bodies, one host, every request
idempotent (by key or by nature) — so owning it is a bounded job: the parser handles chunked and
content-length bodies, and anything unexpected closes the connection and reports "no answer", which the
callers already retry.

A connection idle longer than ``keepalive`` is not reused (servers close theirs after ~5 s); a reused one that
the server closed meanwhile is retried once on a fresh connection before any answer counts as lost.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import cast
from urllib.parse import urlsplit

import httptools


class NoAnswer(Exception):
    """Refused, reset, timed out or garbled: no usable answer (the request may or may not have been applied)."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time (the pool hands it to one request)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[None] | None = None
        self.chunks: list[bytes] = []
        self.retry_after: str | None = None
        self.status = 0
        self.closed = False
        self.answered = False  # any byte of an answer arrived for the exchange in progress
        self.keep_alive = False
        self.last_used = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(NoAnswer(f"unreadable answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(NoAnswer(f"connection closed: {exc!r}" if exc else "connection closed"))

    # -- httptools callbacks --------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self.retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        # Read here: once the message is complete the parser has reset, and should_keep_alive() says False.
        self.keep_alive = self.parser.should_keep_alive()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # ---------------------------------------------------------------------------------------------

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def exchange(self, request: bytes) -> tuple[int, bytes, str | None]:
        assert self.transport is not None
        self.chunks, self.retry_after, self.status, self.answered = [], None, 0, False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            await self.waiter
        finally:
            self.waiter = None
        if not self.keep_alive:
            self.close()
        self.last_used = time.monotonic()
        return self.status, b"".join(self.chunks), self.retry_after

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpClient:
    """Requests to one base URL (http or https) over at most ``connections`` keep-alive connections."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, timeout: float = 5.0,
                 connections: int = 50, keepalive: float = 4.0) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._prefix = url.path.rstrip("/")
        default_port = self._port == (443 if url.scheme == "https" else 80)
        host = self._host if default_port else f"{self._host}:{self._port}"
        if ":" in self._host:  # an IPv6 literal
            host = f"[{self._host}]" if default_port else f"[{self._host}]:{self._port}"
        fields = {"Host": host, **(headers or {})}
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        self._timeout = timeout
        self._keepalive = keepalive
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []

    def use_tls_context(self, context: ssl.SSLContext) -> None:
        """Another CA bundle or client certificate for an https provider."""
        self._ssl = context

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes, str | None]:
        """(status, body, Retry-After) of any answer; NoAnswer when there was none within the timeout."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()) if headers else ""
        head = f"{method} {self._prefix}{path} HTTP/1.1\r\n{self._head}{extra}"
        data = body or b""
        if data or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(data)}\r\n"
        request = (head + "\r\n").encode("latin-1") + data
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._exchange(request)
            except TimeoutError:
                raise NoAnswer("timed out") from None

    async def _exchange(self, request: bytes) -> tuple[int, bytes, str | None]:
        conn = self._reusable()
        if conn is not None:
            try:
                return await self._on(conn, request)
            except NoAnswer:
                if conn.answered:
                    raise
                # Closed by the server while idle (its keep-alive ended first): not an answer, try a new one.
        return await self._on(await self._connect(), request)

    async def _on(self, conn: _Connection, request: bytes) -> tuple[int, bytes, str | None]:
        try:
            answer = await conn.exchange(request)
        except BaseException:
            conn.close()  # mid-exchange (failed or cancelled by the timeout): the stream's state is unknown
            raise
        if not conn.closed:
            self._idle.append(conn)
        return answer

    def _reusable(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to have been closed
            if not conn.closed and now - conn.last_used < self._keepalive:
                return conn
            conn.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                _Connection, self._host, self._port, ssl=self._ssl,
                server_hostname=self._host if self._ssl is not None else None)
        except OSError as exc:
            raise NoAnswer(f"cannot connect: {exc!r}") from None
        return conn

    async def aclose(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
