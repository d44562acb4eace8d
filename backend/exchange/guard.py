"""Who calls /api/integration/*: an integration client, by its API key (``X-Api-Key: <keyId>.<secret>``),
never an operator's token. The bearer middleware leaves these paths to this guard (auth.guards), which
authenticates the key and puts an ``IntegrationPrincipal`` (role ``integration``) in the scope."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from backend.core.errors import Forbidden, Unauthorized
from backend.exchange import keys, queries

API_KEY_HEADER = "X-Api-Key"
_CHALLENGE = {"WWW-Authenticate": 'ApiKey realm="integration", header="X-Api-Key"'}
_cache: dict[str, tuple[float, Any]] = {}
_CACHE_MAX = 10000


@dataclass(frozen=True)
class IntegrationPrincipal:
    """The caller of /api/integration/*: an integration client authenticated by one of its API keys."""

    client_id: int
    key_id: str
    name: str
    campaign_id: int | None
    require_signed_requests: bool
    signing_secret: str
    task_validity_hours: int
    role: str = "integration"


async def _lookup(connection: ASGIConnection[Any, Any, Any, Any], key_id: str) -> Any:
    ttl: float = connection.app.state.settings.exchange_key_cache_seconds
    now = time.monotonic()
    cached = _cache.get(key_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    row = await queries.key_principal(connection.app.state.pool, key_id)
    if ttl > 0:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key_id] = (now + ttl, row)
    return row


async def integration_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    parsed = keys.parse(connection.headers.get(API_KEY_HEADER))
    if parsed is None:
        bearer = connection.headers.get("authorization", "").lower().startswith("bearer ")
        raise Unauthorized("Operator tokens are not accepted here: send the integration client's API key in "
                           "X-Api-Key" if bearer else "X-Api-Key: <keyId>.<secret> is required",
                           code="INTEGRATION_KEY_REQUIRED", headers=_CHALLENGE)
    key_id, secret = parsed
    row = await _lookup(connection, key_id)
    if row is None or row["revoked_at"] is not None or not keys.matches(secret, bytes(row["secret_hash"])):
        raise Unauthorized("The API key is unknown, revoked or wrong", code="INTEGRATION_KEY_INVALID",
                           headers=_CHALLENGE)
    if not row["active"]:
        raise Forbidden("This integration client is switched off", code="INTEGRATION_CLIENT_INACTIVE")
    connection.scope["user"] = IntegrationPrincipal(
        client_id=row["client_id"], key_id=key_id, name=row["name"], campaign_id=row["campaign_id"],
        require_signed_requests=row["require_signed_requests"], signing_secret=row["signing_secret"],
        task_validity_hours=row["task_validity_hours"])


integration_guard.__name__ = "integration_key"
INTEGRATION = integration_guard


def principal(connection: ASGIConnection[Any, Any, Any, Any]) -> IntegrationPrincipal:
    user = connection.scope.get("user")
    if not isinstance(user, IntegrationPrincipal):  # pragma: no cover - the guard ran first
        raise Unauthorized("Authentication required", code="INTEGRATION_KEY_REQUIRED")
    return user
