"""Errors to HTTP responses, in one place.

Every error body carries ``error: {code, message, field?, data?}``; the two seed API families also
get their own envelope so that the existing client app reads them as it reads successes:
``/api/security/*`` adds ``result: {code, description}`` and ``/api/arm/*`` adds ``status: "ERROR"``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.types import ExceptionHandlersMap

from backend.core.errors import DEPENDENCY_ERRORS, AppError
from backend.core.language import describe, prefers_english

log = logging.getLogger("backend.errors")

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    503: "SERVICE_UNAVAILABLE",
}


def error_body(path: str, status: int, code: str, message: str,
               field: str | None = None, data: dict[str, Any] | None = None, *,
               english: bool = False) -> dict[str, Any]:
    """``english``: the request prefers English (the security service's ``result.description`` follows the
    request's language, Russian by default; ``error.message`` stays the developer's English)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    if data:
        error["data"] = data
    body: dict[str, Any] = {"error": error}
    if path.startswith("/api/security/"):
        body["result"] = {"code": code, "description": describe(code, english, message, field)}
    elif path.startswith("/api/arm/"):
        body["status"] = "ERROR"
    return body


def _respond(request: Request[Any, Any, Any], status: int, code: str, message: str, *,
             field: str | None = None, data: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> Response[Any]:
    path = request.url.path
    english = path.startswith("/api/security/") and prefers_english(request.headers.get("accept-language"))
    return Response(
        content=error_body(path, status, code, message, field, data, english=english),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _app_error(request: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
    if exc.status_code >= 500:
        log.warning("%s %s -> %s %s", request.method, request.url.path, exc.status_code, exc.message)
    return _respond(request, exc.status_code, exc.code, exc.message, field=exc.field, data=exc.data,
                    headers=exc.headers)


_AT_FIELD = re.compile(r"at `\$\.?([^`]*)`")
_MISSING = re.compile(r"(?:missing required|contains unknown) field `([^`]+)`")


def _wire_name(request: Request[Any, Any, Any], key: str) -> str:
    """A parameter's name on the wire (``QueryParameter(name="state")``), not the handler's argument name."""
    field = request.route_handler.parsed_fn_signature.parameters.get(key)
    kwarg = getattr(field, "kwarg_definition", None)
    return str(getattr(kwarg, "name", None) or getattr(kwarg, "query", None) or key)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's msgspec decode errors, reduced to one message and the JSON path of the bad field."""
    field: str | None = None
    message = "Request is invalid"
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            raw = str(item.get("message", ""))
            at = _AT_FIELD.search(raw)
            missing = _MISSING.search(raw)
            key = str(item.get("key") or "")
            # the object the error is in: msgspec's "at `$.x`" or Litestar's key (the body's root is "data")
            parent = at.group(1) if at else (_wire_name(request, key) if key not in ("", "data", "body") else "")
            field = ".".join(p for p in (parent, missing.group(1) if missing else "") if p) or None
            message = _AT_FIELD.sub("", raw).strip(" -") or message
            if "\\x00" in message:  # the NUL-free Str pattern, said plainly
                message = "Text must not contain NUL characters"
            break
    return _respond(request, 400, "VALIDATION_ERROR", message, field=field)


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == 400 and isinstance(exc.__cause__, SerializationException):
        return _respond(request, 400, "MALFORMED_JSON", "Request body is not valid JSON")
    code = _STATUS_CODES.get(status, "ERROR")
    message = exc.detail if status < 500 else "Service error"
    headers = dict(exc.headers or {})
    if status == 405 and headers.get("allow") == "websocket":
        # Litestar's Allow for a WebSocket-only path names no HTTP method: the answer is "upgrade".
        return _respond(request, 426, "UPGRADE_REQUIRED", "This is a WebSocket endpoint: connect with "
                        "Upgrade: websocket", headers={"Upgrade": "websocket"})
    return _respond(request, status, code, message, headers=headers)


def _dependency_name(exc: BaseException) -> str:
    """Which service failed: a refused connection is a bare OSError, so look at where it was raised."""
    modules = [type(exc).__module__]
    tb = exc.__traceback__
    while tb is not None:
        modules.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    for module in reversed(modules):
        if module.startswith("asyncpg"):
            return "database"
        if module.startswith("redis"):
            return "Redis"
    return "a backing service"


def _dependency_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    what = _dependency_name(exc)
    log.warning("%s %s -> 503: %s unavailable (%s)", request.method, request.url.path, what, type(exc).__name__)
    return _respond(request, 503, "SERVICE_UNAVAILABLE",
                    f"Service temporarily unavailable: {what} is not reachable", headers={"Retry-After": "5"})


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, DEPENDENCY_ERRORS):
        return _dependency_error(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _respond(request, 500, "INTERNAL_ERROR", "Internal error; it has been logged")


def exception_handlers() -> ExceptionHandlersMap:
    handlers: dict[Any, Any] = {
        AppError: _app_error,
        ValidationException: _validation_error,
        HTTPException: _http_exception,
        Exception: _unexpected,
    }
    for exc_type in DEPENDENCY_ERRORS:
        handlers[exc_type] = _dependency_error
    return handlers
