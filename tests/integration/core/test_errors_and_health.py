"""Clear JSON errors for bad input, and 503 (never a hang or a traceback) when a backing service is down."""

from __future__ import annotations

import asyncio
import sys

import asyncpg

from tests.harness import REPO, free_port, unique, with_database


async def test_health_and_ready(http, web):
    health = (await http.get(f"{web[0]}/health")).json()
    assert health["status"] == "OK"
    assert health["loops"]["event subscription"]["state"] == "ok"  # the hub's loop, never dead
    ready = await http.get(f"{web[1]}/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_unknown_route_wrong_method_and_oversized_body(http, web, start_web):
    missing = await http.get(f"{web[0]}/api/arm/v1/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "NOT_FOUND", "message": "Not Found"}, "status": "ERROR"}
    wrong_method = await http.put(f"{web[0]}/api/security/v1/login", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["result"]["code"] == "METHOD_NOT_ALLOWED"

    proc = start_web(MAX_REQUEST_BODY_BYTES="2048")
    huge = await http.post(f"{proc.url}/api/arm/v1/login", json={"login": "x" * 5000, "password": "y"})
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_database_down_gives_503_not_500(http, start_web):
    dead = f"postgresql://127.0.0.1:{free_port()}/nothing"
    proc = start_web(DATABASE_URL=dead, DEPENDENCY_TIMEOUT="1")
    assert (await http.get(f"{proc.url}/health")).status_code == 200
    ready = await http.get(f"{proc.url}/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unreachable")
    r = await http.post(f"{proc.url}/api/arm/v1/login", json={"login": "a", "password": "b"})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "database" in r.json()["error"]["message"]
    assert "Traceback" not in proc.log_path.read_text()


async def test_redis_down_gives_503(http, start_web, make_user):
    proc = start_web(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", DEPENDENCY_TIMEOUT="1")
    user = await make_user("operator")
    r = await http.post(f"{proc.url}/api/security/v1/login", json={"login": user.login, "password": user.password})
    assert r.status_code == 503
    assert r.json()["result"]["code"] == "SERVICE_UNAVAILABLE"
    assert "Redis" in r.json()["error"]["message"]
    ready = await http.get(f"{proc.url}/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "ok"


async def test_ready_reports_unmigrated_database(http, start_web, services):
    name = unique("tm_empty_")
    admin = await asyncpg.connect(services.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        proc = start_web(DATABASE_URL=with_database(services.admin_url, name))
        ready = await http.get(f"{proc.url}/ready")
        assert ready.status_code == 503
        assert "migrations behind" in ready.json()["checks"]["database"]
        proc.stop()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_bad_setting_exits_with_one_clear_line(services):
    env = services.web_env(JWT_SECRET="short", PORT="8")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "backend.web", env=env, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1
    assert "JWT_SECRET" in lines[0] and "short" not in lines[0]
    assert "Traceback" not in err.decode()


async def test_openapi_and_docs_are_served_locally(http, web):
    spec = (await http.get(f"{web[0]}/schema/openapi.json")).json()
    for path in ("/api/security/v1/login", "/api/security/v1/logout", "/api/security/v1/checkAccess",
                 "/api/arm/v1/login", "/api/arm/v1/logout", "/api/admin/v1/operators", "/api/admin/v1/campaigns"):
        assert path in spec["paths"], path
    page = await http.get(f"{web[0]}/schema/swagger")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "https://" not in page.text and "http://" not in page.text
    assert "<script>" not in page.text  # no inline script: the page works under a strict CSP
    for asset, kind in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css"),
                        ("init.js", "text/javascript")):
        assert f"/schema/swagger-ui/{asset}" in page.text
        r = await http.get(f"{web[0]}/schema/swagger-ui/{asset}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), asset
    bundle = (await http.get(f"{web[0]}/schema/swagger-ui/swagger-ui-bundle.js")).text
    assert 'PACKAGE_VERSION:"5.' in bundle  # Swagger UI 5: renders OpenAPI 3.1 (4.x shows an error)
    assert (await http.get(f"{web[0]}/schema/swagger-ui/index.html")).status_code == 404  # only what the page uses
