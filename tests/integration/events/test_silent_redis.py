"""A Redis that goes silent without closing the connection (its host lost, a network cut: no FIN, no RST)
must not hold the web process's event subscription forever: the hub notices the silence, gives the
connection up and subscribes again on a new one (through Sentinel, to whatever is the primary then)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import pytest

from tests.harness import free_port


class BlackHoleProxy:
    """Forwards TCP to Redis; ``freeze()`` makes every open connection a black hole (bytes are swallowed, the
    sockets stay open), while connections made afterwards are forwarded normally."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.generation = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def freeze(self) -> None:
        self.generation += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        born = self.generation
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if self.generation == born:  # frozen connections swallow everything
                        dst.write(data)
                        await dst.drain()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        writer.close()
        up_writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_a_silent_redis_connection_is_given_up_and_the_subscription_restored(services, start_web):
    target = urlsplit(services.redis_url)
    if not target.hostname:
        pytest.skip("Redis is reached over a Unix socket here; the proxy needs TCP")
    proxy = BlackHoleProxy(target.hostname, target.port or 6379)
    await proxy.start()
    try:
        web = start_web(REDIS_URL=f"redis://127.0.0.1:{proxy.port}{target.path or '/0'}")
        for _ in range(50):
            if "event subscription ready" in web.log_path.read_text():
                break
            await asyncio.sleep(0.1)
        proxy.freeze()
        started = asyncio.get_running_loop().time()
        for _ in range(300):
            log = web.log_path.read_text()
            if "event subscription restored" in log:
                break
            await asyncio.sleep(0.1)
        waited = asyncio.get_running_loop().time() - started
        assert "no answer from Redis in 10 s" in log
        assert "event subscription restored" in log
        assert waited < 25
    finally:
        await proxy.stop()
