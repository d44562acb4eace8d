"""The opening every push socket shares, the operator's (``workstation.ws``) and the supervisors'
(``supervision.ws``): the Origin checked before the upgrade is accepted, a HELLO within HELLO_TIMEOUT with the
token (never in the URL) and the last seq the client holds, the token authenticated against its server
session. Who may then use the socket and what it is sent are each socket's own.

Refusals, the same on both: an ERROR frame with a machine-readable code, then the close code — 4400 bad HELLO,
4401 not authenticated, 4403 Origin not allowed (closed before accept, no frame), 4408 no HELLO in time.
Nothing of the HELLO (its raw text, its token) is kept past the handshake: an idle socket's frame holds only
what it needs (issue 16)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from backend.auth.service import AuthService, Principal
from backend.core.origin import origin_allowed
from backend.core.types import Str
from backend.events.bus import encode_frame

HELLO_TIMEOUT = 5.0


class Hello(msgspec.Struct, rename="camel"):
    """First WebSocket message: the token travels here, never in the URL."""

    type: str
    token: Annotated[Str, msgspec.Meta(min_length=1, max_length=2048)]
    last_seq: Annotated[int, msgspec.Meta(ge=0)] | None = None


_hello = msgspec.json.Decoder(Hello)


async def refuse(socket: WebSocket[Any, Any, Any], code: int, error: str, message: str, reason: str) -> None:
    """An ERROR frame naming why, then the close code."""
    await socket.send_text(encode_frame("ERROR", None, {"code": error, "message": message}))
    await socket.close(code=code, reason=reason)


def header(socket: WebSocket[Any, Any, Any], name: bytes) -> str | None:
    """One header read from the scope's raw list: ``socket.headers`` would build (and keep, for the socket's
    life) a parsed copy of every header, ~1.5 KiB per idle socket (issue 16)."""
    for key, value in socket.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def greet(socket: WebSocket[Any, Any, Any]) -> tuple[Principal, int | None] | None:
    """(who, the lastSeq of their HELLO) of an accepted, authenticated socket; None once it was refused and
    closed (or the client went)."""
    state = socket.app.state
    if not origin_allowed(header(socket, b"origin"), header(socket, b"host"), state.settings.allowed_origins):
        await socket.close(code=4403, reason="origin not allowed")
        return None
    await socket.accept()
    try:
        raw = await asyncio.wait_for(socket.receive_text(), HELLO_TIMEOUT)
    except TimeoutError:
        await socket.close(code=4408, reason="no HELLO")
        return None
    except WebSocketDisconnect:
        return None
    try:
        hello = _hello.decode(raw)
        if hello.type != "HELLO":
            raise msgspec.ValidationError("first message must be HELLO")
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        await refuse(socket, 4400, "BAD_HELLO", str(exc), "bad HELLO")
        return None
    auth: AuthService = state.auth
    principal = await auth.authenticate(hello.token)
    if principal is None:
        await refuse(socket, 4401, "INVALID_TOKEN", "token invalid or session ended", "not authenticated")
        return None
    return principal, hello.last_seq
