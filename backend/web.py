"""The `web` process: serves HTTP (and WebSocket) on $PORT."""

from __future__ import annotations

import os

import uvicorn

from backend.app import create_app
from backend.core.logging import configure_logging
from backend.core.settings import load_or_exit

WS_MAX_BYTES = 64 * 1024


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
        ws=os.environ.get("TM_WS_IMPL", "auto"),
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
