"""The WebSocket Origin rule, shared by the operators' and the supervisors' sockets."""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin: it must be our own host or listed. Non-browser clients send none.
    The loopback names are one host (a page opened as localhost talks to 127.0.0.1 and back)."""
    if origin is None:
        return True
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    if not host or parts.scheme not in ("http", "https"):
        return False
    if parts.netloc == host:
        return True
    ours = urlsplit(f"//{host}")
    return (parts.hostname or "") in {"localhost", "127.0.0.1", "::1"} and \
        (ours.hostname or "") in {"localhost", "127.0.0.1", "::1"} and parts.port == ours.port
