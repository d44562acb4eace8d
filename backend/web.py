"""The `web` process: serves HTTP (and WebSocket) on $PORT with uvicorn (uvloop, httptools) and the WebSocket
protocol WS_IMPLEMENTATION (README, Performance: memory per idle socket)."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from backend.app import create_app
from backend.core.logging import configure_logging
from backend.core.settings import load_or_exit

WS_MAX_BYTES = 64 * 1024


class _ReceiveQueue:
    """What uvicorn's WebSocket protocol uses of an ``asyncio.Queue`` (put_nowait, get, empty), without its
    three deques (~760 bytes each even when empty): a list and the futures of whoever waits."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        return self._items.pop(0)


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, holding less per idle socket (issue 16; README, Performance):
    its receive queue is a ``_ReceiveQueue`` and the handshake's parsed request and response (two header
    maps, ~3 KiB) are let go once the handshake is answered (uvicorn keeps them for the socket's life and
    reads them only before that)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _ReceiveQueue()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            self.request = self.response = None  # type: ignore[assignment]


WS_PROTOCOLS: dict[str, Any] = {"lean": LeanWebSocketProtocol}


def main() -> None:
    settings = load_or_exit()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # X-Forwarded-For is believed only from TRUSTED_PROXIES, by our code (auth/client.py); uvicorn's own
        # default would believe it from 127.0.0.1, i.e. from anyone on a shared host.
        proxy_headers=False,
        server_header=False,
        # A WebSocket frame or message is at most 64 KiB and never compressed: an unauthenticated socket
        # cannot make the process inflate 16 MiB frames (uvicorn's default).
        ws_max_size=WS_MAX_BYTES,
        ws_per_message_deflate=False,
        ws=WS_PROTOCOLS.get(settings.ws_implementation, settings.ws_implementation),
        # No protocol-level pings: the workstation and floor sockets send their own heartbeat (PING/PONG
        # frames every WS_HEARTBEAT_SECONDS, a silent socket closed after three), so uvicorn's keepalive timer
        # per socket would only duplicate it.
        ws_ping_interval=None,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
