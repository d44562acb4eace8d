"""The documented contract: our error body in OpenAPI, the statuses each route can answer, bearer security
only where a token is needed, and ``OPTIONS`` answered with the route's full ``Allow``.

Handlers declare the errors of their own domain (``responses=errors({404: "OPERATOR_NOT_FOUND"})``);
``document_routes`` then adds what follows from the kind of route (a token needed or not, a body, a
parameter, a database behind it) and puts each error in the envelope of its API family, as
``http_errors.error_body`` writes it."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import msgspec
import openapi_ui_bundles
from litestar import Litestar, Request, Response, get
from litestar.constants import RESERVED_KWARGS
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath
from litestar.response import File
from litestar.router import Router
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Guard, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

BEARER = "bearer"


class ErrorDetail(msgspec.Struct, omit_defaults=True):
    code: Annotated[str, msgspec.Meta(description="Machine-readable code, e.g. VALIDATION_ERROR, LOGIN_TAKEN")]
    message: Annotated[str, msgspec.Meta(description="What went wrong, for people")]
    field: Annotated[str, msgspec.Meta(description="The field at fault (a JSON path such as "
                                                   "communicationResult.result), when one is")] | None = None
    data: Annotated[dict[str, Any], msgspec.Meta(description="Details, e.g. retryAfter or the roles "
                                                             "needed")] | None = None


class Error(msgspec.Struct):
    """Every error outside the two seed API families."""

    error: ErrorDetail


class SecurityErrorResult(msgspec.Struct):
    code: str
    description: str


class SecurityError(msgspec.Struct):
    """An error under /api/security/*: the seed's ``result`` envelope beside ``error``."""

    error: ErrorDetail
    result: SecurityErrorResult


class ArmError(msgspec.Struct):
    """An error under /api/arm/*: the seed's ``status: ERROR`` beside ``error``."""

    error: ErrorDetail
    status: Literal["ERROR"]


def envelope(path: str) -> type[Error] | type[SecurityError] | type[ArmError]:
    """The error body of a path, as ``http_errors.error_body`` writes it."""
    if path.startswith("/api/security/"):
        return SecurityError
    if path.startswith("/api/arm/"):
        return ArmError
    return Error


_PHRASES = {
    400: "Invalid request: VALIDATION_ERROR (with the field at fault) or MALFORMED_JSON",
    401: "MISSING_TOKEN or INVALID_TOKEN: log in again",
    403: "ROLE_REQUIRED: the session's role may not do this",
    404: "Not found",
    409: "Conflict",
    413: "PAYLOAD_TOO_LARGE: the body exceeds MAX_REQUEST_BODY_BYTES",
    429: "Too many requests; Retry-After says when to try again",
    503: "SERVICE_UNAVAILABLE: PostgreSQL or Redis unreachable; Retry-After says when to try again",
}


def errors(codes: Mapping[int, str] | Iterable[int]) -> dict[int, ResponseSpec]:
    """Error responses of a handler: ``{404: "OPERATOR_NOT_FOUND: no such operator"}`` or ``[404, 409]``."""
    described = dict(codes) if isinstance(codes, Mapping) else {status: _PHRASES[status] for status in codes}
    return {status: ResponseSpec(data_container=Error, description=text, generate_examples=False)
            for status, text in described.items()}


def _with(responses: dict[int, ResponseSpec], status: int, text: str | None = None) -> None:
    if status not in responses:
        responses[status] = ResponseSpec(data_container=Error, description=text or _PHRASES[status],
                                         generate_examples=False)


def _takes_input(handler: HTTPRouteHandler, route: HTTPRoute) -> tuple[bool, bool]:
    """(a JSON body, any parameter) of a handler."""
    params = handler.parsed_fn_signature.parameters
    body = "data" in params
    named = [name for name in params if name not in RESERVED_KWARGS]
    return body, bool(named or route.path_parameters)


def document_routes(app: Litestar, *, public_key: str, any_role_guards: Iterable[Guard] = (),
                    no_database: Iterable[str] = ()) -> None:
    """Complete each documented operation of ``app`` by its kind, before the OpenAPI document is built:
    bearer security on protected routes only; 400 where there is input, 413 where there is a body,
    401 (and 403 unless every role may call it) where a token is needed, 503 where PostgreSQL or Redis is
    behind it; and every error in the envelope of its path."""
    open_to_all = set(any_role_guards)
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            responses: dict[int, ResponseSpec] = dict(handler.responses or {})
            body, params = _takes_input(handler, route)
            protected = not handler.opt.get(public_key)
            if body or params:
                _with(responses, 400)
            if body:
                _with(responses, 413)
            if protected:
                _with(responses, 401)
                guards = {guard for layer in handler.ownership_layers for guard in (layer.guards or ())}
                if not guards <= open_to_all:
                    _with(responses, 403)
                handler.security = [{BEARER: []}]
            if route.path not in no_database:
                _with(responses, 503)
            family = envelope(route.path)
            for status, spec in list(responses.items()):
                if spec.data_container is Error and status >= 400:
                    responses[status] = ResponseSpec(data_container=family, description=spec.description,
                                                     generate_examples=False)
            handler.responses = responses


class AllowMiddleware:
    """``OPTIONS`` answered with every method of the path in ``Allow``, without a token.

    Litestar's own OPTIONS handler lists only the methods of the first handler registered for a path (two
    handlers on one path, as ``GET /`` and ``POST /`` of a controller, leave it stale) and runs the
    controller's guards (401 for an anonymous OPTIONS). CORS preflights never get here: the CORS
    middleware answers them before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._methods: dict[str, list[str]] | None = None

    def _allowed(self, litestar: Litestar, template: str) -> list[str] | None:
        if self._methods is None:
            methods: dict[str, set[str]] = {}
            for route in litestar.routes:
                if isinstance(route, HTTPRoute):
                    methods.setdefault(route.path_format or "/", set()).update(route.methods)
            self._methods = {path: sorted(found) for path, found in methods.items()}
        return self._methods.get(template)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] == "OPTIONS":
            template = cast(str, cast(dict[str, Any], scope).get("path_template", ""))
            allowed = self._allowed(scope["litestar_app"], template)
            if allowed:
                await send(HTTPResponseStartEvent(type="http.response.start", status=204,
                                                  headers=[(b"allow", ", ".join(allowed).encode())]))
                await send(HTTPResponseBodyEvent(type="http.response.body", body=b"", more_body=False))
                return
        await self.app(scope, receive, send)

SWAGGER_UI = Path(openapi_ui_bundles.swagger_ui.static_path)  # Swagger UI 5.x: renders OpenAPI 3.1
_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}
# Ours, not inline in the page: the page works under a Content-Security-Policy without 'unsafe-inline'.
_INIT_JS = b"""window.ui = SwaggerUIBundle({
  url: document.body.dataset.spec, dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"
});
"""


class SwaggerUI(OpenAPIRenderPlugin):
    """Swagger UI 5 from the ``openapi-ui-bundles`` package, served by the process itself (workstations may be
    offline from the internet): the page at ``<schema>/swagger``, its files at ``<schema>/swagger-ui/*``."""

    def __init__(self, path: str = "/swagger") -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        spec = self.get_openapi_json_route(request)
        assets = spec.rsplit("/", 1)[0] + "/swagger-ui"
        title = html.escape(str(openapi_schema["info"]["title"]))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body data-spec="{html.escape(spec)}">
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/init.js"></script>
</body>
</html>
""".encode()

    def receive_router(self, router: Router) -> None:
        @get("/swagger-ui/{name:str}", include_in_schema=False, sync_to_thread=False, cache_control=None)
        def swagger_asset(name: FromPath[str]) -> Response[bytes] | File:
            if name == "init.js":
                return Response(_INIT_JS, media_type="text/javascript")
            if name not in _ASSETS:
                raise NotFoundException()
            return File(SWAGGER_UI / name, content_disposition_type="inline", media_type=_ASSETS[name])

        router.register(swagger_asset)
