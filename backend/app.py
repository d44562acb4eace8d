"""The one place where the application is assembled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from backend.admin.routes import AuditController, PermissionsController
from backend.auth.guards import ANY_ROLE, INTEGRATION_PREFIX, PUBLIC, auth_middleware
from backend.auth.passwords import PasswordService
from backend.auth.permissions import Permissions
from backend.auth.routes import ArmAuthController, SecurityController
from backend.auth.service import AuthService
from backend.auth.throttle import LoginThrottle
from backend.calls.routes import post_call_event
from backend.campaigns.routes import CampaignsController
from backend.campaigns.service import CampaignEntry
from backend.core.db import create_pool, create_redis, create_replica_pool
from backend.core.headers import security_headers
from backend.core.http_errors import exception_handlers
from backend.core.migrate import latest_version
from backend.core.openapi import BEARER, AllowMiddleware, SwaggerUI, document_routes, errors
from backend.core.settings import Settings, load_or_exit
from backend.events.hub import Hub
from backend.exchange.routes import (
    IntegrationClientsController,
    IntegrationController,
    IntegrationDeliveriesController,
)
from backend.health.routes import health, metrics, ready
from backend.leads.routes import LeadImportsController, LeadStreamsController
from backend.leads.service import LeadIntake
from backend.operators.routes import OperatorsController, TeamsController
from backend.reports.routes import OwnStatsController, ReportsController
from backend.rules.routes import BookingsController, CampaignRulesController, DoNotCallController
from backend.supervision.control import Supervision
from backend.supervision.feed import SupervisorFeed
from backend.supervision.routes import SupervisionController
from backend.supervision.ws import supervisor_socket
from backend.workstation.presence import Presence
from backend.workstation.routes import OperatorStateController, WorkstationController
from backend.workstation.service import Workstation
from backend.workstation.ws import operator_socket

INTEGRATION_KEY = "integrationKey"
FRONTEND = Path(__file__).resolve().parent.parent / "frontend_static"


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_or_exit()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(settings)
        report_pool = await create_replica_pool(settings, pool)
        redis = create_redis(settings)
        passwords = PasswordService(settings.password_hash_concurrency)
        hub = Hub(pool, redis, settings)
        workstation = Workstation(pool, redis, settings)
        presence = Presence(pool, redis, settings, workstation)
        floor_feed = SupervisorFeed(pool, redis, settings)
        app.state.update(
            settings=settings,
            pool=pool,
            report_pool=report_pool,
            redis=redis,
            passwords=passwords,
            permissions=Permissions(pool, redis, settings),
            schema_version=latest_version(),
            auth=AuthService(pool, settings, passwords, LoginThrottle(redis, settings), presence),
            session_hooks=presence,
            presence=presence,
            workstation=workstation,
            call_sink=workstation,
            hub=hub,
            leads=LeadIntake(pool, settings),
            floor_feed=floor_feed,
            supervision=Supervision(pool, presence, presence),
            task_sink=CampaignEntry(redis, settings),  # the exchange enters its tasks as the cascade does
        )
        await hub.start()
        await floor_feed.start()
        try:
            yield
        finally:
            await floor_feed.stop()
            await hub.stop()
            passwords.close()
            await redis.aclose()
            if report_pool is not pool:
                await report_pool.close()
            await pool.close()

    openapi = OpenAPIConfig(
        title="Telemarketing operator workstation",
        version="1.0.0",
        path="/schema",
        components=Components(security_schemes={
            BEARER: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT",
                                   description="The token of /api/arm/v1/login or /api/security/v1/login"),
            INTEGRATION_KEY: SecurityScheme(type="apiKey", name="X-Api-Key", security_scheme_in="header",
                                            description="An integration client's API key: <keyId>.<secret>"),
        }),
        render_plugins=[SwaggerUI()],  # Swagger UI 5 (renders OpenAPI 3.1), offline
    )
    cors = CORSConfig(allow_origins=list(settings.allowed_origins), allow_headers=["Authorization", "Content-Type"],
                      allow_credentials=False) if settings.allowed_origins else None

    app = Litestar(
        route_handlers=[
            SecurityController,
            ArmAuthController,
            OperatorsController,
            TeamsController,
            PermissionsController,
            AuditController,
            CampaignsController,
            CampaignRulesController,
            DoNotCallController,
            BookingsController,
            LeadImportsController,
            LeadStreamsController,
            WorkstationController,
            OperatorStateController,
            operator_socket,
            SupervisionController,
            supervisor_socket,
            ReportsController,
            OwnStatsController,
            post_call_event,
            IntegrationController,
            IntegrationClientsController,
            IntegrationDeliveriesController,
            health,
            ready,
            metrics,
            # The browser workstation, last: "/" serves index.html; API paths are matched first.
            create_static_files_router("/", [FRONTEND], html_mode=True, opt=PUBLIC, name="workstation"),
        ],
        lifespan=[lifespan],
        middleware=[AllowMiddleware, auth_middleware({ScopeType.HTTP})],
        before_send=[security_headers],
        exception_handlers=exception_handlers(),
        openapi_config=openapi,
        cors_config=cors,
        request_max_body_size=settings.max_request_body_bytes,
        on_app_init=None,
        logging_config=None,  # core.logging is the one set-up: LOG_LEVEL must hold for every logger
        debug=False,
    )
    # The auth routes' own errors, declared here (their handlers belong to backend/auth).
    login_errors = errors({401: "INVALID_CREDENTIALS: wrong login or password",
                           403: "ACCOUNT_LOCKED (only after the right password)",
                           429: "LOGIN_THROTTLED: too many failed logins; Retry-After and data.retryAfter say when"})
    # The security service answers its denials with HTTP 200 and result.code (Рис. 33): only throttling is
    # an HTTP status there.
    security_login_errors = errors({429: "LOGIN_THROTTLED: too many failed logins; Retry-After and "
                                         "data.retryAfter say when"})
    auth_errors = {"/api/security/v1/login": security_login_errors, "/api/arm/v1/login": login_errors}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if route.path in auth_errors and handler.include_in_schema:
                handler.responses = {**auth_errors[route.path], **(handler.responses or {})}
    document_routes(app, public_key="public", any_role_guards=[ANY_ROLE], no_database=["/health"])
    for route in app.routes:  # the integration API: its own key, not a bearer token
        if route.path.startswith(INTEGRATION_PREFIX):
            for handler in getattr(route, "route_handlers", []):
                handler.security = [{INTEGRATION_KEY: []}]
    return app
