"""One error base class: every failure a client should see is an ``AppError`` with a status, a
machine-readable code, optionally the field it concerns and data. ``http_errors`` maps them (and
everything else) to responses in one place."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import redis.exceptions


class AppError(Exception):
    status_code = 400
    code = "BAD_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.data = data
        self.headers = headers or {}


class BadRequest(AppError):
    status_code = 400
    code = "VALIDATION_ERROR"


class Unauthorized(AppError):
    status_code = 401
    code = "UNAUTHORIZED"


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"


class TooManyRequests(AppError):
    status_code = 429
    code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        retry_after = max(1, retry_after)
        super().__init__(message, code=code, data={"retryAfter": retry_after},
                         headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"


# Errors that mean "a backing service is unreachable", not "our code is wrong".
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.TooManyConnectionsError,
    # The server ended our session: a restart or failover (57P01), a crash (57P02), or an administrator's
    # pg_terminate_backend; the connection's protocol state may then be torn mid-query (InternalClientError,
    # raised by asyncpg when the pool resets such a connection).
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.UndefinedTableError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)
