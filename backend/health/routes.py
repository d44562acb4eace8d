"""Liveness and readiness for process managers and load balancers."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any, Literal

import asyncpg
import msgspec
import redis.asyncio as aioredis
from litestar import Request, Response, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from backend.auth.guards import PUBLIC, bearer_token
from backend.core.errors import DEPENDENCY_ERRORS, NotFound, Unauthorized
from backend.core.metrics import exposition
from backend.core.migrate import applied_version
from backend.core.retry import loop_health


@get("/health", opt=PUBLIC, tags=["health"],
     summary="The process is alive; its background loops (event subscription) with their state")
async def health() -> dict[str, Any]:
    return {"status": "OK", "loops": loop_health()}


async def _check_database(pool: asyncpg.Pool, expected: int) -> str:
    async with pool.acquire() as conn:
        version = await applied_version(conn)
    if version < expected:
        return f"migrations behind: database at {version}, code needs {expected}"
    return "ok"


async def _check_redis(client: aioredis.Redis) -> str:
    await client.ping()
    return "ok"


class Readiness(msgspec.Struct):
    status: Literal["OK", "NOT_READY"]
    checks: dict[str, str]  # database, redis: "ok" or why not


@get("/ready", opt=PUBLIC, tags=["health"], summary="PostgreSQL and Redis reachable, migrations current",
     responses={503: ResponseSpec(Readiness, description="Not ready: checks say which service and why",
                                  generate_examples=False)})
async def ready(request: Request[Any, Any, Any]) -> Response[Readiness]:
    state = request.app.state
    timeout = state.settings.dependency_timeout
    checks: dict[str, str] = {}
    for name, check in (("database", _check_database(state.pool, state.schema_version)),
                        ("redis", _check_redis(state.redis))):
        try:
            checks[name] = await asyncio.wait_for(check, timeout)
        except DEPENDENCY_ERRORS as exc:
            checks[name] = f"unreachable ({type(exc).__name__})"
    ok = all(v == "ok" for v in checks.values())
    return Response(Readiness("OK" if ok else "NOT_READY", checks), status_code=200 if ok else 503)


async def metrics_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The guard of /metrics (issue 17): not an operator's session (Prometheus has none) but the bearer token
    METRICS_TOKEN, compared in constant time; unset, the route does not exist (404). Not by address: behind
    the load balancer every request comes from its address."""
    expected = connection.app.state.settings.metrics_token
    if not expected:
        raise NotFound("Not found", code="NOT_FOUND")
    # As bytes: compare_digest raises TypeError (a 500) on a non-ASCII str.
    if not hmac.compare_digest((bearer_token(connection) or "").encode(), expected.encode()):
        raise Unauthorized("Authorization: Bearer <METRICS_TOKEN> is required", code="INVALID_TOKEN",
                           headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


@get("/metrics", opt=PUBLIC, guards=[metrics_token], include_in_schema=False)
async def metrics() -> Response[bytes]:
    """This process's figures in Prometheus' text format (backend/core/metrics.py)."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)
