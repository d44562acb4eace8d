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


def test_campaign_rules_routes_change_for_admins_and_read_for_supervisors():
    """Rules, do-not-call and bookings: every change is ADMIN-only; reads (and the /find lookups, POST only to
    keep phones out of URLs) are SUPERVISOR (which admins pass)."""
    from backend.auth.guards import ADMIN, SUPERVISOR

    app = create_app(SETTINGS)
    seen = 0
    for route in app.routes:
        if not route.path.startswith(("/api/admin/v1/do-not-call", "/api/admin/v1/bookings")) and \
                "/rules" not in route.path and "/cascade/" not in route.path:
            continue
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or handler.http_methods == {"OPTIONS"}:
                continue
            guards = list(handler.guards or [])
            reads = handler.http_methods == {"GET"} or route.path.endswith("/find")
            assert (SUPERVISOR if reads else ADMIN) in guards, f"{handler.http_methods} {route.path}"
            seen += 1
    assert seen >= 14


def test_reports_routes_are_for_analysts_and_own_statistics_for_operators():
    """Reports: ANALYST (analysts, supervisors, admins) on every route; the operator's own statistics: OPERATOR."""
    from backend.auth.guards import ANALYST, OPERATOR

    app = create_app(SETTINGS)
    seen = 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or handler.http_methods == {"OPTIONS"}:
                continue
            guards = [guard for layer in handler.ownership_layers for guard in (layer.guards or ())]
            if route.path.startswith("/api/reports/"):
                assert ANALYST in guards, route.path
                seen += 1
            elif route.path == "/api/arm/v1/myStats":
                assert OPERATOR in guards
                seen += 1
    assert seen >= 9
