"""The OpenAPI document says what the server does: our error body (never Litestar's default), the statuses
each kind of route answers, bearer security only where a token is needed, and the required result."""

from __future__ import annotations

import msgspec
import pytest

from backend.app import create_app
from backend.core.http_errors import error_body
from backend.core.openapi import ArmError, Error, SecurityError, envelope
from backend.core.settings import Settings

SETTINGS = Settings.from_env({"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "JWT_SECRET": "s" * 40})
SPEC = create_app(SETTINGS).openapi_schema.to_schema()
PUBLIC = {"/api/security/v1/login", "/api/security/v1/logout", "/api/security/v1/checkAccess",
          "/api/arm/v1/login", "/health", "/ready", "/api/telephony/v1/events"}
OPERATIONS = [(path, method, op) for path, item in SPEC["paths"].items() for method, op in item.items()
              if isinstance(op, dict) and "responses" in op]


def _ref(response: dict) -> str:
    return str(response["content"]["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]


def test_document_is_openapi_3_1_without_global_security():
    assert SPEC["openapi"].startswith("3.1")
    assert "security" not in SPEC  # per operation only
    assert SPEC["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "The token of /api/arm/v1/login or /api/security/v1/login"}
    assert {p for p, _, _ in OPERATIONS} >= PUBLIC


@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_each_operation_documents_its_errors_in_our_envelope(path, method, op):
    responses = op["responses"]
    public = path in PUBLIC
    assert ("security" in op) is not public
    if not public:
        # The integration API takes an integration client's API key, everything else an operator's token.
        scheme = "integrationKey" if path.startswith("/api/integration/") else "bearer"
        assert op["security"] == [{scheme: []}]
        assert "401" in responses
    if "requestBody" in op:
        assert {"400", "413"} <= set(responses), path
    if op.get("parameters"):
        assert "400" in responses, path
    if path != "/health":
        assert "503" in responses, path
    for status, response in responses.items():
        if int(status) < 400:
            continue
        expected = "Readiness" if path == "/ready" else envelope(path).__name__
        assert _ref(response) == expected, (path, status)
        assert response["description"], (path, status)


def test_specific_statuses():
    paths = SPEC["paths"]
    assert {"401", "403", "429"} <= set(paths["/api/arm/v1/login"]["post"]["responses"])
    # The security service answers denials with HTTP 200 and result.code (seed 001, Рис. 33).
    assert "429" in paths["/api/security/v1/login"]["post"]["responses"]
    assert not {"401", "403"} & set(paths["/api/security/v1/login"]["post"]["responses"])
    assert "403" not in paths["/api/arm/v1/me"]["get"]["responses"]  # every role may call it
    assert "403" in paths["/api/admin/v1/operators"]["get"]["responses"]
    assert "409" in paths["/api/admin/v1/operators"]["post"]["responses"]
    assert {"404", "409"} <= set(paths["/api/admin/v1/campaigns/{campaign_id}"]["patch"]["responses"])
    assert {"404", "409"} <= set(paths["/api/arm/v1/saveCommunicationResult"]["post"]["responses"])
    webhook = paths["/api/telephony/v1/events"]["post"]
    assert {"400", "401", "409", "413", "503"} <= set(webhook["responses"])
    assert {p["name"] for p in webhook["parameters"]} == {"X-Telephony-Timestamp", "X-Telephony-Signature"}
    assert webhook["requestBody"]["content"]["application/json"]["schema"]["title"] == "CallEvent"


def test_save_result_and_draft_take_the_result_block_as_appendix_k_prints_it():
    """Appendix К marks nothing of communicationResult required; a result without a code is accepted."""
    schemas = SPEC["components"]["schemas"]
    for path in ("/api/arm/v1/saveCommunicationResult", "/api/arm/v1/saveCommunicationDraft"):
        body = paths_body(path)
        assert set(schemas[body]["required"]) == {"communicationId", "clientPhone"}, path


def paths_body(path: str) -> str:
    return str(SPEC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
               ).rsplit("/", 1)[-1]


def test_no_litestar_default_error_shape_anywhere():
    text = msgspec.json.encode(SPEC).decode()
    assert "status_code" not in text and "Validation Exception" not in text


@pytest.mark.parametrize("path", ["/api/security/v1/login", "/api/arm/v1/me", "/api/admin/v1/operators", "/ready"])
def test_error_bodies_match_the_documented_envelope(path):
    for field, data in ((None, None), ("login", {"retryAfter": 5})):
        body = error_body(path, 429, "LOGIN_THROTTLED", "Too many", field, data)
        decoded = msgspec.convert(body, envelope(path))
        assert isinstance(decoded, (Error, SecurityError, ArmError))
        assert msgspec.to_builtins(decoded) == body
