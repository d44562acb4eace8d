"""Authentication middleware and role guards.

Routes are private by default: the middleware authenticates every HTTP request except those whose
handler sets ``opt={"public": True}`` (login, checkAccess, health, docs, static files), and every
private route also carries a role guard (a test walks the route table to keep it so)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.types import Guard, Scopes

from backend.auth.permissions import require_permission
from backend.auth.service import AuthService, Principal
from backend.core.errors import Forbidden, Unauthorized

PUBLIC = {"public": True}
#: Paths of the integration API: outside systems authenticate there with their own API keys (a guard of the
#: exchange feature checks them), never with a bearer token, so the bearer middleware leaves them alone.
INTEGRATION_PREFIX = "/api/integration/"


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Ours rather than Litestar's ``JWTAuth``: compared, JWTAuth checks a token with a
    ``retrieve_user_handler`` and then a ``revoked_token_handler`` — two session lookups per request where
    ``AuthService.authenticate`` does one (a single ``UPDATE … RETURNING`` that checks the server session,
    the lock and both expiries and slides the idle expiry). The seed's ``checkAccess`` and ``logout`` also
    take the token in the JSON body, which JWTAuth does not read, so the token code (``tokens.py``, pyjwt
    with an HS256 allow-list) would stay anyway; this class is only the 15 lines that wire it in."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = bearer_token(connection)
        challenge = {"WWW-Authenticate": 'Bearer realm="arm"'}
        if token is None:
            raise Unauthorized("Authorization: Bearer <token> is required", code="MISSING_TOKEN",
                               headers=challenge)
        auth: AuthService = connection.app.state.auth
        principal = await auth.authenticate(token)
        if principal is None:
            raise Unauthorized("Token is invalid or its session has ended; log in again",
                               code="INVALID_TOKEN", headers=challenge)
        return AuthenticationResult(user=principal, auth=token)


def auth_middleware(scopes: Scopes) -> DefineMiddleware:
    return DefineMiddleware(BearerAuthMiddleware, exclude_from_auth_key="public",
                            exclude=[r"^/schema(/|$)", "^" + INTEGRATION_PREFIX], scopes=scopes)


def require_roles(*roles: str) -> Guard:
    allowed = frozenset(roles)

    # async, though it awaits nothing: Litestar runs a sync guard in a worker thread (measured: 19 % of a
    # web process's CPU under saves, and a thread hop on every request's path).
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Principal):
            raise Unauthorized("Authentication required", code="MISSING_TOKEN")
        if user.role not in allowed:
            raise Forbidden(f"This action needs the role {' or '.join(sorted(allowed))}",
                            code="ROLE_REQUIRED", data={"roles": sorted(allowed)})

    guard.__name__ = f"require_roles({', '.join(sorted(allowed))})"
    return guard


ANY_ROLE = require_roles("operator", "supervisor", "analyst", "admin")
OPERATOR = require_roles("operator")
#: Fixed role guards, for routes not (yet) mapped to a permission. Every /api/admin and /api/supervisor route
#: is guarded by a permission instead (``require_permission``, test_routes_guarded.py holds them to it).
SUPERVISOR = require_roles("supervisor", "admin")
ADMIN = require_roles("admin")
#: Reports and statistics: the reports.view permission (by default analysts, supervisors and admins).
ANALYST = require_permission("reports.view")

FLOOR_VIEW = require_permission("floor.view")
FLOOR_CONTROL = require_permission("floor.control")
USERS_VIEW = require_permission("users.view")
USERS_MANAGE = require_permission("users.manage")
PERMISSIONS_MANAGE = require_permission("permissions.manage")
AUDIT_VIEW = require_permission("audit.view")
CAMPAIGNS_VIEW = require_permission("campaigns.view")
CAMPAIGNS_MANAGE = require_permission("campaigns.manage")
RULES_VIEW = require_permission("rules.view")
RULES_MANAGE = require_permission("rules.manage")
DNC_VIEW = require_permission("dnc.view")
DNC_MANAGE = require_permission("dnc.manage")
BOOKINGS_VIEW = require_permission("bookings.view")
BOOKINGS_MANAGE = require_permission("bookings.manage")
LEADS_IMPORT = require_permission("leads.import")
REPORTS_EXPORT = require_permission("reports.export")
INTEGRATIONS_MANAGE = require_permission("integrations.manage")
