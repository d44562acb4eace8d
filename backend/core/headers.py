"""Security headers on every HTTP response, set in one place (a ``before_send`` hook: no per-route code).

The page and the API are same-origin only: scripts, styles, sockets and frames from our own origin, no
inline script, never framed. API answers (everything under /api/) are never cached: they carry cards and
tokens. The interactive API docs (/schema/swagger) load their bootstrap from a file too: no exception.
"""

from __future__ import annotations

from litestar.types import Message, Scope

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"x-frame-options", b"DENY"), (b"cross-origin-opener-policy", b"same-origin")]


async def security_headers(message: Message, scope: Scope) -> None:
    """A Litestar ``before_send`` hook: it sees every response the app sends, errors and 404s included."""
    if message["type"] != "http.response.start":
        return
    path: str = scope.get("path", "")
    extra = [*_COMMON, (b"content-security-policy", _CSP.encode())]
    if path.startswith("/api/"):
        extra.append((b"cache-control", b"no-store"))
    headers = list(message.get("headers", []))
    names = {bytes(name).lower() for name, _ in headers}
    message["headers"] = [*headers, *(h for h in extra if h[0] not in names)]
