"""Item 6: the served OpenAPI document is the contract. Every field of every appendix response (``spec``) is
described there with its type and required-ness, no ``arm`` answer is an untyped ``data``, and each route
declares the statuses it can answer."""

from __future__ import annotations

import re
from typing import Any

import pytest

from backend.app import create_app
from backend.core.settings import Settings
from tests.contract.spec import ARR, BOOL, ENDPOINTS, INT, MAP, OBJ, STR, F

SETTINGS = Settings.from_env({"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "JWT_SECRET": "s" * 40})
SPEC = create_app(SETTINGS).openapi_schema.to_schema()
SCHEMAS = SPEC["components"]["schemas"]
_JSON_TYPES = {STR: "string", INT: "integer", BOOL: "boolean", OBJ: "object", ARR: "array", MAP: "object"}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref, and take the one non-null branch of a nullable union."""
    while True:
        if "$ref" in schema:
            schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
            continue
        branches = schema.get("oneOf") or schema.get("anyOf")
        if branches:
            real = [b for b in branches if b.get("type") != "null"]
            assert len(real) == 1, schema
            outer = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
            schema = {**outer, **real[0]}
            continue
        return schema


def _field(root: dict[str, Any], path: str) -> tuple[dict[str, Any], bool]:
    """(the schema of ``path`` under ``root``, whether its parent lists it as required)."""
    node, required = _resolve(root), True
    for step in re.findall(r"[^.\[\]]+|\[\]", path):
        if step == "[]":
            assert node.get("type") == "array", (path, node)
            node, required = _resolve(node["items"]), True
            continue
        if "properties" not in node and isinstance(node.get("additionalProperties"), dict):
            return _resolve(node["additionalProperties"]), False  # a key of a string map
        assert step in node.get("properties", {}), (path, step, sorted(node.get("properties", {})))
        required = step in node.get("required", [])
        node = _resolve(node["properties"][step])
    return node, required


def _response(path: str, method: str) -> dict[str, Any]:
    return dict(SPEC["paths"][path][method.lower()]["responses"]["200"]["content"]["application/json"]["schema"])


def _request(path: str, method: str) -> dict[str, Any]:
    return dict(SPEC["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"])


def _agrees(f: F, schema: dict[str, Any], required: bool, where: str) -> None:
    assert schema.get("type") == _JSON_TYPES[f.type], (where, f.path, schema)
    if f.type == MAP:
        assert _resolve(schema["additionalProperties"]).get("type") == "string", (where, f.path)
    if f.required:
        assert required, (where, f.path, "required by the appendix, optional in OpenAPI")
    if f.format:
        assert schema.get("pattern") or f.format in schema.get("description", ""), (where, f.path, schema)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_every_appendix_field_is_in_the_served_schema(endpoint):
    root = _response(endpoint.path, endpoint.method)
    for f in endpoint.response:
        schema, required = _field(root, f.path)
        _agrees(f, schema, required, "response")
    if endpoint.request:
        body = _request(endpoint.path, endpoint.method)
        for f in endpoint.request:
            schema, required = _field(body, f.path)
            _agrees(f, schema, required, "request")
            if not f.required:
                assert not required, (endpoint.name, f.path, "optional in the appendix, required in OpenAPI")


ARM_OPERATIONS = [(path, method, op) for path, item in SPEC["paths"].items() if path.startswith("/api/arm/")
                  for method, op in item.items() if isinstance(op, dict) and "responses" in op]


@pytest.mark.parametrize(("path", "method", "op"), ARM_OPERATIONS, ids=[f"{m} {p}" for p, m, _ in ARM_OPERATIONS])
def test_no_arm_answer_is_untyped(path, method, op):
    def walk(schema: dict[str, Any], where: str, depth: int = 0) -> None:
        schema = _resolve(schema)
        assert schema, (path, where, "untyped")
        if depth > 12:
            return
        for name, prop in (schema.get("properties") or {}).items():
            walk(prop, f"{where}.{name}", depth + 1)
        if schema.get("type") == "array":
            walk(schema["items"], f"{where}[]", depth + 1)

    walk(op["responses"]["200"]["content"]["application/json"]["schema"], "$")


def test_statuses_each_route_can_answer():
    paths = SPEC["paths"]

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert statuses("/api/arm/v1/getClientCard", "get") == {"200", "401", "403", "503"}  # never 404 now
    assert statuses("/api/arm/v1/getClientCardByCommunicationId", "post") >= {"200", "400", "404", "413"}
    for save in ("saveCommunicationDraft", "saveCommunicationResult"):
        assert statuses(f"/api/arm/v1/{save}", "post") >= {"200", "400", "401", "403", "404", "409", "413", "503"}
    assert statuses("/api/arm/v1/login", "post") >= {"200", "400", "401", "403", "429", "503"}
    # The security service answers denials with HTTP 200 and result.code (Рис. 33): no 401/403 any more.
    login = statuses("/api/security/v1/login", "post")
    assert "401" not in login and "403" not in login and {"200", "400", "429", "503"} <= login
    assert "401" not in statuses("/api/security/v1/logout", "post")
    codes = paths["/api/security/v1/login"]["post"]["responses"]["200"]["description"]
    assert "INVALID_CREDENTIALS" in codes and "ACCOUNT_LOCKED" in codes
