"""The simulator's ASGI app (skeleton; filled in next)."""

from __future__ import annotations

from typing import Any


def create_app() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"status":"OK"}'})

    return app
