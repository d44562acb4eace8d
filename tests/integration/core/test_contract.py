"""The HTTP contract outside the handlers: OPTIONS and Allow, 405, the WebSocket path over plain HTTP."""

from __future__ import annotations

from tests.conftest import bearer, login


def _allow(response) -> list[str]:
    return sorted(m.strip() for m in response.headers["allow"].split(","))


async def test_options_lists_every_method_without_a_token(http, web):
    for path, methods in (("/api/admin/v1/operators", ["GET", "OPTIONS", "POST"]),
                          ("/api/admin/v1/campaigns", ["GET", "OPTIONS", "POST"]),
                          ("/api/admin/v1/campaigns/5", ["GET", "OPTIONS", "PATCH"]),
                          ("/api/arm/v1/saveCommunicationResult", ["OPTIONS", "POST"]),
                          ("/api/security/v1/login", ["OPTIONS", "POST"]),
                          ("/health", ["GET", "OPTIONS"])):
        r = await http.request("OPTIONS", f"{web[0]}{path}")
        assert r.status_code == 204, (path, r.status_code, r.text)
        assert _allow(r) == methods, path


async def test_405_names_the_allowed_methods(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    r = await http.delete(f"{web[0]}/api/admin/v1/campaigns", headers=admin)
    assert r.status_code == 405
    assert _allow(r) == ["GET", "OPTIONS", "POST"]
    assert r.json() == {"error": {"code": "METHOD_NOT_ALLOWED", "message": "Method Not Allowed"}}
    seed = await http.get(f"{web[0]}/api/security/v1/login")
    assert seed.status_code == 405 and _allow(seed) == ["OPTIONS", "POST"]
    assert seed.json()["result"]["code"] == "METHOD_NOT_ALLOWED"  # the seed envelope, like every error there


async def test_websocket_path_over_plain_http_says_upgrade(http, web):
    for method in ("GET", "POST", "OPTIONS"):
        r = await http.request(method, f"{web[0]}/api/arm/v1/ws")
        assert r.status_code == 426, method
        assert r.headers["upgrade"] == "websocket"
        assert r.json()["error"]["code"] == "UPGRADE_REQUIRED" and r.json()["status"] == "ERROR"
