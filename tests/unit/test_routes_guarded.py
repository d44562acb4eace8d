"""Every route is either explicitly public or carries a role guard: a new route cannot be left open."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from backend.app import create_app
from backend.core.settings import Settings

SETTINGS = Settings.from_env({"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "JWT_SECRET": "s" * 40})
EXPECTED_PUBLIC = {
    "/api/security/v1/login", "/api/security/v1/logout", "/api/security/v1/checkAccess", "/api/arm/v1/login",
    "/health", "/ready", "/api/telephony/v1/events",
}


def test_every_route_is_guarded_or_public():
    app = create_app(SETTINGS)
    public: set[str] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or handler.http_methods == {"OPTIONS"}:
                continue  # Litestar's automatic OPTIONS handlers answer preflights only
            if route.path.startswith(("/schema", "/static/")) or route.path in ("/", "/{file_path:path}"):
                continue  # documentation and the browser's static files
            if handler.opt.get("public"):
                public.add(route.path)
            else:
                assert handler.resolve_guards(), f"{route.path} has no role guard"
    assert public == EXPECTED_PUBLIC
