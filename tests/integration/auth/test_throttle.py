"""Failed logins are throttled per login and per address, shared across processes through Redis."""

from __future__ import annotations

from tests.harness import unique


async def test_per_login_throttle_is_shared_between_processes(http, web, make_user):
    user = await make_user("operator")
    # Five failures, alternating between the two processes (default limit 5 per login).
    for i in range(5):
        r = await http.post(f"{web[i % 2]}/api/arm/v1/login", json={"login": user.login, "password": "wrong-pw"})
        assert r.status_code == 401
    for base in web:
        blocked = await http.post(f"{base}/api/arm/v1/login", json={"login": user.login, "password": user.password})
        assert blocked.status_code == 429  # even the right password: no oracle while throttled
        assert blocked.json()["error"]["code"] == "LOGIN_THROTTLED"
        retry_after = int(blocked.headers["retry-after"])
        assert 0 < retry_after <= 900
    # Other accounts behind the same address are not affected.
    other = await make_user("operator")
    ok = await http.post(f"{web[0]}/api/arm/v1/login", json={"login": other.login, "password": other.password})
    assert ok.status_code == 200


async def test_throttle_hides_whether_the_login_exists(http, web):
    ghost = unique("ghost_")
    codes = []
    for _ in range(6):
        r = await http.post(f"{web[0]}/api/security/v1/login", json={"login": ghost, "password": "whatever"})
        codes.append(r.status_code)
    assert codes == [401] * 5 + [429]


async def test_success_resets_the_per_login_counter(http, web, make_user):
    user = await make_user("operator")
    for _ in range(4):
        await http.post(f"{web[0]}/api/arm/v1/login", json={"login": user.login, "password": "wrong-pw"})
    assert (await http.post(f"{web[0]}/api/arm/v1/login",
                            json={"login": user.login, "password": user.password})).status_code == 200
    for _ in range(4):
        r = await http.post(f"{web[1]}/api/arm/v1/login", json={"login": user.login, "password": "wrong-pw"})
        assert r.status_code == 401


async def test_per_address_throttle(http, start_web, make_user):
    proc = start_web(LOGIN_MAX_FAILURES_PER_ADDRESS="3", REDIS_KEY_PREFIX=unique("tmtest-addr:") + ":",
                     LOGIN_THROTTLE_WINDOW="30")
    for _ in range(3):
        r = await http.post(f"{proc.url}/api/arm/v1/login", json={"login": unique("spray_"), "password": "x"})
        assert r.status_code == 401
    user = await make_user("operator")
    r = await http.post(f"{proc.url}/api/arm/v1/login", json={"login": user.login, "password": user.password})
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 30
