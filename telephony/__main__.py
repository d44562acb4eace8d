"""The `telephony` process: `python -m telephony`. Needs DATABASE_URL, REDIS_URL and PROVIDER_URL; serves
/health and /metrics on TELEPHONY_PORT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import msgspec

from backend.app import configure_logging
from backend.core.db import create_pool, create_redis
from backend.settings import Settings, load_or_exit
from telephony.adapter import Adapter
from telephony.provider import HttpProvider

log = logging.getLogger("telephony")


async def serve_health(adapter: Adapter, host: str, port: int) -> asyncio.Server:
    """GET /health (JSON; 503 while the provider is down) and GET /metrics (Prometheus text). A few lines
    of asyncio rather than a second web framework in this process."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await asyncio.wait_for(reader.readline(), 5)).decode("latin-1")
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = request_line.split(" ")[1] if request_line.count(" ") >= 2 else ""
            if path == "/health":
                body = adapter.health()
                status, payload, kind = (200 if body["provider"] == "up" else 503), msgspec.json.encode(body), \
                    "application/json"
            elif path == "/metrics":
                status, payload, kind = 200, adapter.metrics_text().encode(), "text/plain; version=0.0.4"
            else:
                status, payload, kind = 404, b'{"code":"NOT_FOUND"}', "application/json"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {len(payload)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + payload)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


async def run(settings: Settings) -> None:
    pool = await create_pool(settings)
    redis = create_redis(settings)
    provider = HttpProvider(settings.provider_url, api_key=settings.provider_api_key,
                            timeout=settings.provider_timeout)
    adapter = Adapter(pool, redis, settings, provider)
    server = await serve_health(adapter, settings.host, settings.telephony_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(adapter.run_forever(), name="adapter")]
    log.info("telephony started (provider %s)", settings.provider_url)
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task in done and not task.cancelled() and task.exception():
            log.error("telephony task %s died: %r", task.get_name(), task.exception())
    server.close()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await provider.aclose()
    await redis.aclose()
    await pool.close()


def main() -> None:
    settings = load_or_exit(("DATABASE_URL", "REDIS_URL", "PROVIDER_URL"))
    configure_logging(settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
