"""The `web` process: serves HTTP (and WebSocket) on $PORT."""

from __future__ import annotations

import uvicorn

from backend.app import create_app
from backend.core.logging import configure_logging
from backend.core.settings import load_or_exit


def main() -> None:
    settings = load_or_exit()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,  # trusts X-Forwarded-For only from FORWARDED_ALLOW_IPS (uvicorn's own variable)
        server_header=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
