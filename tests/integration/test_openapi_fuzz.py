"""Guard: a bounded property-based fuzz of the whole OpenAPI document (schemathesis + hypothesis) against a
real web process, as each role and without a token. Any 5xx, or any answer that its operation does not
document (status, content type, body schema), fails.

Budget: FUZZ_EXAMPLES generated cases per operation (positive and negative data), each sent once per
identity that can make a difference — no token, operator, supervisor, admin for protected routes; no token
(public routes); signed and unsigned (the telephony webhook) — so about 4 x FUZZ_EXAMPLES requests per
protected operation (about 10,000 requests, a minute on this 2-core machine). Cases are derandomised: the
same inputs every run, so a red run is reproducible. Locally, TM_FUZZ_EXAMPLES changes the budget and
TM_FUZZ_RANDOM=1 explores new inputs on each run.

What the fuzz found before the shared bounded types (NUL bytes, ints beyond bigint, datetimes that overflow
in UTC: all 500s) is pinned by test_former_500s_are_400s.

The fuzz has its own database and Redis prefix, so the accounts it locks, the passwords it changes and the
campaigns it creates touch no other test. Its own accounts have ids far from the small ones hypothesis
likes, so that it does not lock itself out (it may lock the accounts it creates; that is fine).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.app import create_app
from backend.auth.guards import INTEGRATION_PREFIX
from backend.auth.passwords import hash_sync
from backend.calls.signature import sign
from backend.core.migrate import migrate
from backend.core.settings import Settings
from backend.exchange.keys import new_key
from tests.harness import TELEPHONY_SECRET, Services, WebProcess, unique, with_database

FUZZ_EXAMPLES = int(os.environ.get("TM_FUZZ_EXAMPLES", "100"))
RANDOM = os.environ.get("TM_FUZZ_RANDOM") == "1"
ROLES = ("operator", "supervisor", "admin")
ACCOUNT_IDS = {"operator": 7_000_000_001, "supervisor": 7_000_000_002, "admin": 7_000_000_003}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
WEBHOOK = "/api/telephony/v1/events"

# The document the fuzz reads is the one the app serves (test_served_document_is_the_one_fuzzed checks it);
# building it here makes one pytest test per operation.
_SETTINGS = Settings.from_env({"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "JWT_SECRET": "s" * 40})
SPEC = create_app(_SETTINGS).openapi_schema.to_schema()
schema = schemathesis.openapi.from_dict(SPEC)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                max_examples=FUZZ_EXAMPLES, with_security_parameters=False)


@dataclass
class FuzzTarget:
    url: str
    tokens: dict[str, str]
    log: str
    api_key: str


@pytest.fixture(scope="module")
async def fuzz_target(services: Services) -> AsyncIterator[FuzzTarget]:
    name = unique("tm_fuzz_")
    admin = await asyncpg.connect(services.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(services.admin_url, name)
    proc: WebProcess | None = None
    leads_dir = tempfile.mkdtemp(prefix="tm-fuzz-leads-")  # uploads are written here (no worker imports them)
    try:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
            password_hash = await asyncio.to_thread(hash_sync, "fuzz-password")
            for role, account_id in ACCOUNT_IDS.items():
                await conn.execute(
                    """INSERT INTO operators (id, login, password_hash, role, first_name, last_name)
                       VALUES ($1, $2, $3, $4, 'Фазз', 'Тестов')""", account_id, f"fuzz-{role}", password_hash, role)
            # An integration client with a key, mapped to a campaign: the integration API is fuzzed as it too.
            campaign = await conn.fetchval("INSERT INTO campaigns (name) VALUES ('fuzz exchange') RETURNING id")
            client = await conn.fetchval(
                "INSERT INTO exchange_clients (name, campaign_id, signing_secret) VALUES ('fuzz', $1, $2) RETURNING id",
                campaign, "s" * 43)
            key_id, api_key, secret_hash = new_key()
            await conn.execute("INSERT INTO exchange_keys (id, client_id, secret_hash) VALUES ($1, $2, $3)",
                               key_id, client, secret_hash)
        finally:
            await conn.close()
        proc = WebProcess(services.web_env(DATABASE_URL=url, REDIS_KEY_PREFIX=services.redis_prefix + "fuzz:",
                                           LEADS_DIR=leads_dir,
                                           LOGIN_MAX_FAILURES_PER_LOGIN="10000",
                                           LOGIN_MAX_FAILURES_PER_ADDRESS="100000",
                                           LOG_LEVEL=os.environ.get("TM_FUZZ_LOG_LEVEL", "WARNING")),
                          unique("fuzz-"))
        await asyncio.to_thread(proc.wait_ready)
        tokens: dict[str, str] = {}
        async with httpx.AsyncClient(timeout=15) as http:
            for role in ROLES:
                r = await http.post(f"{proc.url}/api/arm/v1/login", json={"login": f"fuzz-{role}",
                                                                         "password": "fuzz-password"})
                assert r.status_code == 200, r.text
                tokens[role] = r.json()["data"]["token"]
        yield FuzzTarget(proc.url, tokens, str(proc.log_path), api_key)
    finally:
        if proc is not None:
            proc.stop()
        shutil.rmtree(leads_dir, ignore_errors=True)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _raw_body(case: schemathesis.Case) -> bytes:
    """The bytes to sign (negative cases may carry a non-JSON body)."""
    if case.body is schemathesis.core.NOT_SET:
        return b""
    if isinstance(case.body, bytes):
        return case.body
    if isinstance(case.body, str):
        return case.body.encode("utf-8", "surrogatepass")
    return json.dumps(case.body).encode()


def _login(target: FuzzTarget, role: str) -> str:
    r = httpx.post(f"{target.url}/api/arm/v1/login", json={"login": f"fuzz-{role}", "password": "fuzz-password"},
                   timeout=15)
    assert r.status_code == 200, r.text
    token: str = r.json()["data"]["token"]
    return token


def _identities(case: schemathesis.Case, target: FuzzTarget) -> Iterator[tuple[str, dict[str, str]]]:
    """(label, headers) to send the case with."""
    if not case.operation.definition.raw.get("security"):
        yield "no token", {}
        return
    yield "no token", {}
    if case.path.startswith(INTEGRATION_PREFIX):
        yield "integration key", {"X-Api-Key": target.api_key}
    for role in ROLES:
        if (case.method, case.path) == ("GET", "/api/arm/v1/logout"):
            token = _login(target, role)  # logging out ends the session: never with the shared token
        else:
            token = target.tokens[role]
        yield role, {"Authorization": f"Bearer {token}"}


def _alive(target: FuzzTarget) -> None:
    """Our accounts stay usable after an admin case that named one of them (lock, password, end-sessions)."""
    for role in ROLES:
        r = httpx.get(f"{target.url}/api/arm/v1/me", headers={"Authorization": f"Bearer {target.tokens[role]}"},
                      timeout=15)
        if r.status_code == 401:
            httpx.post(f"{target.url}/api/admin/v1/operators/{ACCOUNT_IDS[role]}/unlock", timeout=15,
                       headers={"Authorization": f"Bearer {_login(target, 'admin')}"})
            target.tokens[role] = _login(target, role)


@pytest.fixture(scope="module")
def target(fuzz_target: FuzzTarget) -> FuzzTarget:
    return fuzz_target


@schema.parametrize()
@settings(deadline=None, derandomize=not RANDOM, database=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
def test_fuzz(case: schemathesis.Case, target: FuzzTarget) -> None:
    if case.path == WEBHOOK:
        # Unsigned (or garbage-signed): refused before the body is read. Signed: the body is parsed and applied.
        case.call_and_validate(base_url=target.url, checks=CHECKS)
        body = _raw_body(case)
        ts = int(time.time())
        case.call_and_validate(base_url=target.url, checks=CHECKS, data=body, headers={
            "Content-Type": "application/json", "X-Telephony-Timestamp": str(ts),
            "X-Telephony-Signature": sign(TELEPHONY_SECRET, ts, body)})
        return
    for _, headers in _identities(case, target):
        case.call_and_validate(base_url=target.url, checks=CHECKS, headers=headers)
    if set((case.path_parameters or {}).values()) & set(ACCOUNT_IDS.values()):
        _alive(target)


def test_served_document_is_the_one_fuzzed(target: FuzzTarget) -> None:
    served = httpx.get(f"{target.url}/schema/openapi.json", timeout=15).json()
    assert served == json.loads(json.dumps(SPEC))


BIGINT = 2**63


def _signed(body: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    ts = int(time.time())
    return raw, {"Content-Type": "application/json", "X-Telephony-Timestamp": str(ts),
                 "X-Telephony-Signature": sign(TELEPHONY_SECRET, ts, raw)}


_EVENT = {"eventId": "fuzz-former-500", "type": "CALL_STARTED", "callId": "c", "operatorId": 1, "campaignTaskId": 1,
          "phone": "79990001122", "occurredAt": "2026-01-01T00:00:00Z"}
FORMER_500S = [  # (id, method, path, role, JSON body or None, query, signed)
    ("nul-campaign-name", "POST", "/api/admin/v1/campaigns", "admin", {"name": "nul\u0000name"}, None, False),
    ("nul-operator-name", "POST", "/api/admin/v1/operators", "admin",
     {"login": "nul-login", "password": "long-enough", "firstName": "A\u0000", "lastName": "B"}, None, False),
    ("nul-login", "POST", "/api/arm/v1/login", None, {"login": "fuzz-operator\u0000", "password": "x"}, None, False),
    ("huge-offset", "GET", "/api/admin/v1/operators", "admin", None, {"offset": str(BIGINT)}, False),
    ("huge-operator-id", "POST", WEBHOOK, None, {**_EVENT, "operatorId": BIGINT}, None, True),
    ("overflowing-task-time", "POST", "/api/admin/v1/campaigns/1/tasks", "admin",
     {"phone": "79990001122", "taskTime": "9999-12-31T23:59:59-23:59"}, None, False),
]


@pytest.mark.parametrize(("method", "path", "role", "body", "query", "signed"), [c[1:] for c in FORMER_500S],
                         ids=[c[0] for c in FORMER_500S])
def test_former_500s_are_400s(target: FuzzTarget, method: str, path: str, role: str | None,
                            body: dict[str, object] | None, query: dict[str, str] | None, signed: bool) -> None:
    headers = {"Authorization": f"Bearer {target.tokens[role]}"} if role else {}
    if path.endswith("/campaigns/1/tasks"):  # a campaign of the fuzz's own database
        made = httpx.post(f"{target.url}/api/admin/v1/campaigns", json={"name": unique("former-500 ")},
                          headers=headers, timeout=15)
        path = f"/api/admin/v1/campaigns/{made.json()['data']['id']}/tasks"
    if signed and body is not None:
        raw, signature = _signed(body)
        r = httpx.request(method, f"{target.url}{path}", content=raw, headers=signature, timeout=15)
    else:
        r = httpx.request(method, f"{target.url}{path}", json=body, params=query, headers=headers, timeout=15)
    assert r.status_code == 400, r.text
