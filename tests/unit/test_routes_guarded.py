"""Every route is either explicitly public or carries a role guard: a new route cannot be left open."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from backend.app import create_app
from backend.core.settings import Settings

SETTINGS = Settings.from_env({"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "JWT_SECRET": "s" * 40})
EXPECTED_PUBLIC = {
    "/api/security/v1/login", "/api/security/v1/logout", "/api/security/v1/checkAccess", "/api/arm/v1/login",
    "/health", "/ready", "/api/telephony/v1/events",
    # Prometheus has no operator session: /metrics carries its own guard, the METRICS_TOKEN bearer (404 unset)
    "/metrics",
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


def _permission_guards(handler: HTTPRouteHandler) -> set[str]:
    return {getattr(g, "permission", None) for g in handler.resolve_guards()} - {None}  # type: ignore[misc]


def test_every_admin_and_supervisor_route_maps_to_a_permission():
    """Admins change what each role may do, so every admin and supervisor route is guarded by a permission of the
    catalogue (not a fixed role list), and only by permissions the catalogue knows."""
    from backend.auth.permissions import CATALOGUE

    app = create_app(SETTINGS)
    seen = 0
    for route in app.routes:
        if not route.path.startswith(("/api/admin/", "/api/supervisor/")) or route.path == "/api/supervisor/v1/ws":
            continue
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or handler.http_methods == {"OPTIONS"}:
                continue
            permissions = _permission_guards(handler)
            assert len(permissions) == 1, f"{handler.http_methods} {route.path}: {permissions}"
            assert permissions <= set(CATALOGUE)
            seen += 1
    assert seen >= 45


def test_changes_need_manage_permissions_and_reads_view_permissions():
    """Rules, do-not-call, bookings, campaigns, users: every change needs the *.manage permission (by default
    admins only); reads (and the /find lookups, POST only to keep phones out of URLs) the *.view one (by default
    supervisors too). The audit log needs audit.view, the permission matrix permissions.manage."""
    app = create_app(SETTINGS)
    families = {"/api/admin/v1/do-not-call": "dnc", "/api/admin/v1/bookings": "bookings",
                "/api/admin/v1/operators": "users", "/api/admin/v1/teams": "users"}
    seen = 0
    for route in app.routes:
        family = next((f for prefix, f in families.items() if route.path.startswith(prefix)), None)
        if family is None and route.path.startswith("/api/admin/v1/campaigns"):
            family = "rules" if ("/rules" in route.path or "/cascade/" in route.path) else "campaigns"
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or handler.http_methods == {"OPTIONS"}:
                continue
            permissions = _permission_guards(handler)
            if route.path.startswith("/api/admin/v1/audit"):
                assert permissions == {"audit.view"}
                continue
            if route.path.startswith("/api/admin/v1/permissions"):
                assert permissions == {"permissions.manage"}
                continue
            if family is None:
                continue
            reads = handler.http_methods == {"GET"} or route.path.endswith("/find")
            assert permissions == {f"{family}.{'view' if reads else 'manage'}"}, f"{handler.http_methods} {route.path}"
            seen += 1
    assert seen >= 30


def test_the_seeded_permissions_are_the_catalogue():
    """Migration 0019 seeds exactly the permissions of the code's catalogue (none unknown, none forgotten)."""
    import re
    from pathlib import Path

    from backend.auth.permissions import CATALOGUE

    sql = (Path(__file__).resolve().parents[2] / "backend/migrations/0019_admin_audit_permissions.sql").read_text()
    named = set(re.findall(r"\('([a-z]+\.[a-z]+)'\)", sql))
    assert named == set(CATALOGUE), named ^ set(CATALOGUE)


def test_the_integration_api_is_guarded_by_its_own_key_and_its_admin_side_by_a_permission():
    """/api/integration/* is not public and takes no bearer token: the bearer middleware leaves it to the
    exchange's key guard (INTEGRATION), which every handler there carries. Managing clients, keys and
    deliveries needs integrations.manage (by default admins only)."""
    from backend.auth.guards import INTEGRATION_PREFIX
    from backend.exchange.guard import INTEGRATION

    app = create_app(SETTINGS)
    integration = admin = 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or handler.http_methods == {"OPTIONS"}:
                continue
            guards = [g for layer in handler.ownership_layers for g in (layer.guards or ())]
            if route.path.startswith(INTEGRATION_PREFIX):
                assert not handler.opt.get("public") and guards == [INTEGRATION], route.path
                assert handler.security == [{"integrationKey": []}]
                integration += 1
            elif route.path.startswith(("/api/admin/v1/integration-clients", "/api/admin/v1/integration-deliveries")):
                assert _permission_guards(handler) == {"integrations.manage"}, route.path
                assert INTEGRATION not in guards, route.path
                admin += 1
    assert integration == 3 and admin == 9


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
                if route.path.endswith("/export.csv"):  # exporting is a permission of its own (reports.export)
                    assert "reports.export" in _permission_guards(handler), route.path
                seen += 1
            elif route.path == "/api/arm/v1/myStats":
                assert OPERATOR in guards
                seen += 1
    assert seen >= 9
