"""``GET /health`` (JSON; 503 while the provider is down) and ``GET /metrics`` (Prometheus text) of the
telephony process: a two-route Litestar app under uvicorn, in the process's own event loop."""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import uvicorn
from litestar import Litestar, Response, get
from prometheus_client import generate_latest

from backend.core.metrics import exposition
from telephony.adapter import Adapter


def create_health_app(adapter: Adapter) -> Litestar:
    @get("/health", sync_to_thread=False)
    def health() -> Response[dict[str, Any]]:
        body = adapter.health()
        return Response(body, status_code=200 if body["status"] == "OK" else 503)

    @get("/metrics", media_type="text/plain; version=0.0.4", sync_to_thread=False)
    def metrics() -> bytes:
        return generate_latest(adapter.ctx.metrics.registry) + exposition()[0]

    return Litestar([health, metrics], openapi_config=None, logging_config=None, debug=False)


def health_server(adapter: Adapter, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(create_health_app(adapter), host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off")
    return _QuietServer(config)


class _QuietServer(uvicorn.Server):
    """The telephony process owns SIGTERM/SIGINT (it stops its loops, then this server)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield
