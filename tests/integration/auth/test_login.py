"""Seed-compatible login, logout and checkAccess, driven over HTTP against two web processes."""

from __future__ import annotations

import asyncio
import base64
import json

import jwt

from tests.conftest import bearer, login


async def test_security_login_returns_seed_envelope_and_token_works_on_other_process(http, web, make_user):
    user = await make_user("operator")
    response = await http.post(f"{web[0]}/api/security/v1/login",
                               json={"login": user.login, "password": user.password})
    assert response.status_code == 200
    body = response.json()
    assert body["result"]["code"] == "OK"
    assert body["data"]["operatorId"] == user.id
    token = body["data"]["token"]

    me = await http.get(f"{web[1]}/api/arm/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["data"]["operatorId"] == user.id
    assert me.json()["data"]["login"] == user.login


async def test_arm_login_envelope_and_case_insensitive_login(http, web, make_user):
    user = await make_user("operator")
    response = await http.post(f"{web[0]}/api/arm/v1/login",
                               json={"login": user.login.upper(), "password": user.password})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "OK"
    assert body["data"]["operatorId"] == user.id
    assert body["data"]["role"] == "operator"
    claims = json.loads(base64.urlsafe_b64decode(body["data"]["token"].split(".")[1] + "=="))
    assert {"exp", "iat", "sub", "jti", "role", "iss", "aud"} <= set(claims)
    assert claims["sub"] == str(user.id)


async def test_wrong_password_and_unknown_login_are_indistinguishable(http, web, make_user):
    user = await make_user("operator")
    wrong = await http.post(f"{web[0]}/api/arm/v1/login", json={"login": user.login, "password": "nope-nope"})
    unknown = await http.post(f"{web[0]}/api/arm/v1/login", json={"login": user.login + "x", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "INVALID_CREDENTIALS"


async def test_locked_operator_cannot_log_in(http, web, make_user):
    user = await make_user("operator", locked=True)
    right = await http.post(f"{web[0]}/api/security/v1/login", json={"login": user.login, "password": user.password})
    assert right.status_code == 200  # the security service: a denial is result.code (Рис. 33)
    assert right.json()["result"]["code"] == "ACCOUNT_LOCKED"
    wrong = await http.post(f"{web[0]}/api/security/v1/login", json={"login": user.login, "password": "wrong-pass"})
    assert wrong.json()["result"]["code"] == "INVALID_CREDENTIALS"  # a wrong password never learns it is locked
    arm = await http.post(f"{web[0]}/api/arm/v1/login", json={"login": user.login, "password": user.password})
    assert arm.status_code == 403 and arm.json()["error"]["code"] == "ACCOUNT_LOCKED"


async def test_arm_logout_kills_token_at_once_on_every_process(http, web, make_user):
    user = await make_user("operator")
    token = await login(http, web[0], user)
    other = await login(http, web[0], user)  # a second tab/session stays alive
    out = await http.get(f"{web[1]}/api/arm/v1/logout", headers=bearer(token))
    assert out.status_code == 200
    assert out.json() == {"status": "OK"}
    for base in web:
        refused = await http.get(f"{base}/api/arm/v1/me", headers=bearer(token))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "INVALID_TOKEN"
        assert refused.json()["status"] == "ERROR"
    check = await http.post(f"{web[0]}/api/security/v1/checkAccess", json={"token": token})
    assert check.json()["result"]["code"] == "ACCESS_DENIED"
    assert (await http.get(f"{web[0]}/api/arm/v1/me", headers=bearer(other))).status_code == 200


async def test_security_logout_by_token_in_body(http, web, make_user):
    user = await make_user("operator")
    token = await login(http, web[0], user)
    out = await http.post(f"{web[0]}/api/security/v1/logout", json={"token": token})
    assert out.status_code == 200
    assert out.json() == {"result": {"code": "OK"}}
    assert (await http.get(f"{web[1]}/api/arm/v1/me", headers=bearer(token))).status_code == 401
    again = await http.post(f"{web[0]}/api/security/v1/logout", json={"token": token})
    assert again.status_code == 200  # idempotent
    forged = await http.post(f"{web[0]}/api/security/v1/logout", json={"token": "not-a-token"})
    assert forged.status_code == 200  # as a revoked one: nothing is left that the token could open
    assert forged.json() == {"result": {"code": "OK"}}


async def test_check_access_ok_and_denied(http, web, make_user, services):
    user = await make_user("supervisor")
    token = await login(http, web[0], user)
    ok = await http.post(f"{web[1]}/api/security/v1/checkAccess", json={"token": token, "updateExpire": True})
    assert ok.status_code == 200
    assert ok.json()["result"] == {"code": "OK"}
    assert ok.json()["data"]["operatorId"] == user.id
    assert ok.json()["data"]["role"] == "supervisor"

    claims = jwt.decode(token, options={"verify_signature": False})
    foreign = jwt.encode(claims, "another-secret-another-secret-another-secret", algorithm="HS256")
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = header + "." + token.split(".")[1] + "."
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (foreign, unsigned, tampered, "garbage"):
        denied = await http.post(f"{web[0]}/api/security/v1/checkAccess", json={"token": bad})
        assert denied.status_code == 200
        assert denied.json()["result"] == {"code": "ACCESS_DENIED", "description": "Доступ запрещен"}
        assert (await http.get(f"{web[0]}/api/arm/v1/me", headers=bearer(bad))).status_code == 401


async def test_missing_token_is_401_with_challenge(http, web):
    response = await http.get(f"{web[0]}/api/arm/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "MISSING_TOKEN"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_idle_timeout_slides_with_check_access_and_absolute_timeout_caps(http, start_web, make_user):
    proc = start_web(SESSION_IDLE_TIMEOUT="3", SESSION_ABSOLUTE_TIMEOUT="7")
    user = await make_user("operator")
    token = await login(http, proc.url, user)

    async def alive() -> bool:
        r = await http.post(f"{proc.url}/api/security/v1/checkAccess", json={"token": token, "updateExpire": True})
        return bool(r.json()["result"]["code"] == "OK")

    # Kept alive past the idle timeout by checkAccess(updateExpire) every 2 s ...
    for _ in range(3):
        await asyncio.sleep(2)
        assert await alive()
    # ... until the absolute lifetime (7 s) ends it whatever the activity.
    await asyncio.sleep(1.5)
    assert not await alive()

    idle = await login(http, proc.url, user)
    await asyncio.sleep(3.5)
    r = await http.get(f"{proc.url}/api/arm/v1/me", headers=bearer(idle))
    assert r.status_code == 401  # idle past 3 s without activity


async def test_check_access_without_update_does_not_extend(http, start_web, make_user):
    proc = start_web(SESSION_IDLE_TIMEOUT="4", SESSION_ABSOLUTE_TIMEOUT="60")
    user = await make_user("operator")
    token = await login(http, proc.url, user)
    for _ in range(2):
        await asyncio.sleep(1.4)
        r = await http.post(f"{proc.url}/api/security/v1/checkAccess", json={"token": token, "updateExpire": False})
        assert r.json()["result"]["code"] == "OK"
    await asyncio.sleep(2.0)
    r = await http.post(f"{proc.url}/api/security/v1/checkAccess", json={"token": token})
    assert r.json()["result"]["code"] == "ACCESS_DENIED"


async def test_login_body_validation(http, web):
    base = web[0]
    missing = await http.post(f"{base}/api/arm/v1/login", json={"login": "someone"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "VALIDATION_ERROR"
    assert missing.json()["error"]["field"] == "password"
    wrong_type = await http.post(f"{base}/api/security/v1/login", json={"login": 5, "password": "x"})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"]["field"] == "login"
    assert wrong_type.json()["result"]["code"] == "VALIDATION_ERROR"
    too_long = await http.post(f"{base}/api/arm/v1/login", json={"login": "a" * 3000, "password": "x"})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["field"] == "login"
    malformed = await http.post(f"{base}/api/arm/v1/login", content=b'{"login": "x"',
                                headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "MALFORMED_JSON"


async def test_password_is_not_logged(http, web, make_user, services):
    user = await make_user("operator")
    token = await login(http, web[0], user)
    await http.get(f"{web[0]}/api/arm/v1/me", headers=bearer(token))
    await asyncio.sleep(0.2)
    from tests.harness import ARTIFACTS

    logs = "".join(p.read_text() for p in ARTIFACTS.glob("web-*.log"))
    assert user.password not in logs
    assert token not in logs
    assert token.split(".")[2] not in logs

