"""Admin HTTP API: role guards, create, lock/unlock, set-password, end-sessions; effects are immediate."""

from __future__ import annotations

from tests.conftest import bearer, login
from tests.harness import unique


async def test_role_guards(http, web, make_user):
    operator = await login(http, web[0], await make_user("operator"))
    supervisor = await login(http, web[0], await make_user("supervisor"))
    admin = await login(http, web[0], await make_user("admin"))
    url = f"{web[1]}/api/admin/v1/operators"
    new = {"login": unique("n_"), "password": "long-enough", "firstName": "A", "lastName": "B"}

    r = await http.get(url, headers=bearer(operator))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "ROLE_REQUIRED"
    assert (await http.get(url, headers=bearer(supervisor))).status_code == 200
    assert (await http.post(url, json=new, headers=bearer(supervisor))).status_code == 403
    assert (await http.post(url, json=new, headers=bearer(operator))).status_code == 403
    created = await http.post(url, json=new, headers=bearer(admin))
    assert created.status_code == 201
    assert (await http.get(url)).status_code == 401


async def test_create_validates_and_refuses_duplicates(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    url = f"{web[0]}/api/admin/v1/operators"
    login_name = unique("Op_")
    body = {"login": login_name, "password": "long-enough", "firstName": "Мария", "lastName": "Иванова",
            "role": "supervisor"}
    created = await http.post(url, json=body, headers=admin)
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["login"] == login_name and data["role"] == "supervisor" and data["locked"] is False
    assert "password" not in str(data).lower()

    dup = await http.post(url, json=dict(body, login=login_name.lower()), headers=admin)
    assert dup.status_code == 409
    assert dup.json()["error"]["code"] == "LOGIN_TAKEN"
    assert dup.json()["error"]["field"] == "login"

    for field, value in (("password", "short"), ("role", "root"), ("login", "has space"), ("firstName", "")):
        bad = await http.post(url, json={**body, "login": unique("x_"), field: value}, headers=admin)
        assert bad.status_code == 400, (field, bad.text)
        assert bad.json()["error"]["field"] == field

    fetched = await http.get(f"{url}/{data['id']}", headers=admin)
    assert fetched.json()["data"]["login"] == login_name
    missing = await http.get(f"{url}/999999999", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "OPERATOR_NOT_FOUND"

    logged = await http.post(f"{web[1]}/api/arm/v1/login", json={"login": login_name, "password": "long-enough"})
    assert logged.status_code == 200


async def test_lock_ends_sessions_at_once_and_unlock_restores_login(http, web, make_user):
    admin_user = await make_user("admin")
    admin = bearer(await login(http, web[0], admin_user))
    victim = await make_user("operator")
    token = await login(http, web[1], victim)
    url = f"{web[0]}/api/admin/v1/operators/{victim.id}"

    locked = await http.post(f"{url}/lock", headers=admin)
    assert locked.status_code == 200
    assert locked.json()["data"]["locked"] is True
    assert (await http.get(f"{web[1]}/api/arm/v1/me", headers=bearer(token))).status_code == 401
    relog = await http.post(f"{web[1]}/api/arm/v1/login", json={"login": victim.login, "password": victim.password})
    assert relog.status_code == 403

    assert (await http.post(f"{url}/unlock", headers=admin)).status_code == 200
    assert (await login(http, web[1], victim))

    self_lock = await http.post(f"{web[0]}/api/admin/v1/operators/{admin_user.id}/lock", headers=admin)
    assert self_lock.status_code == 409


async def test_set_password_ends_sessions_and_old_password_fails(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    victim = await make_user("operator")
    token = await login(http, web[0], victim)
    r = await http.post(f"{web[1]}/api/admin/v1/operators/{victim.id}/password", json={"password": "brand-new-pw"},
                        headers=admin)
    assert r.status_code == 200
    assert (await http.get(f"{web[0]}/api/arm/v1/me", headers=bearer(token))).status_code == 401
    old = await http.post(f"{web[0]}/api/arm/v1/login", json={"login": victim.login, "password": victim.password})
    assert old.status_code == 401
    new = await http.post(f"{web[0]}/api/arm/v1/login", json={"login": victim.login, "password": "brand-new-pw"})
    assert new.status_code == 200


async def test_end_sessions(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    victim = await make_user("operator")
    tokens = [await login(http, web[i % 2], victim) for i in range(3)]
    listing = await http.get(f"{web[0]}/api/admin/v1/operators", params={"role": "operator", "limit": 1000},
                             headers=admin)
    mine = [o for o in listing.json()["data"] if o["id"] == victim.id]
    assert mine[0]["liveSessions"] == 3

    r = await http.post(f"{web[1]}/api/admin/v1/operators/{victim.id}/end-sessions", headers=admin)
    assert r.json()["data"] == {"endedSessions": 3}
    for token in tokens:
        assert (await http.get(f"{web[0]}/api/arm/v1/me", headers=bearer(token))).status_code == 401
    assert (await login(http, web[0], victim))  # not locked: may log in again
