"""Administration through the HTTP API, as admins use it: users and teams, role permissions taking effect on
every web process at the next request, the lock-out guards, and the audit log — one row per action with the
target before and after, written in the action's transaction (a refused action leaves none), viewable with
filters and exportable as CSV, append-only in PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.supervision.helpers import FloorSocket

OPS = "/api/admin/v1/operators"


async def audit_rows(db, target_type: str, target_id) -> list[dict]:
    rows = await db.fetch(
        """SELECT actor_id, action, target_type, target_id, client_addr, before, after FROM audit_log
            WHERE target_type = $1 AND target_id = $2 ORDER BY id""", target_type, str(target_id))
    return [{**r, "before": json.loads(r["before"] or "null"), "after": json.loads(r["after"] or "null")}
            for r in rows]


async def test_each_user_action_is_audited_with_before_and_after(http, web, db, make_user):
    admin_user = await make_user("admin")
    admin = bearer(await login(http, web[0], admin_user))
    team = (await http.post(f"{web[0]}/api/admin/v1/teams", json={"name": unique("Team ")}, headers=admin))
    assert team.status_code == 201, team.text
    team_id = team.json()["data"]["id"]

    body = {"login": unique("u_"), "password": "long-enough", "firstName": "Анна", "lastName": "Петрова",
            "role": "operator", "teamId": team_id}
    created = await http.post(f"{web[0]}{OPS}", json=body, headers=admin)
    assert created.status_code == 201, created.text
    user = created.json()["data"]
    assert user["teamId"] == team_id and user["teamName"] == team.json()["data"]["name"]
    uid = user["id"]

    edited = await http.patch(f"{web[1]}{OPS}/{uid}", json={"lastName": "Сидорова", "role": "supervisor",
                                                             "teamId": None}, headers=admin)
    assert edited.status_code == 200, edited.text
    assert edited.json()["data"] | {"lastName": "Сидорова", "role": "supervisor", "teamId": None} == \
        edited.json()["data"]

    token = (await http.post(f"{web[0]}/api/arm/v1/login",
                             json={"login": body["login"], "password": "long-enough"})).json()["data"]["token"]
    assert (await http.post(f"{web[0]}{OPS}/{uid}/lock", headers=admin)).status_code == 200
    # Locking ends the user's sessions at once, on every web process.
    assert (await http.get(f"{web[1]}/api/arm/v1/me", headers=bearer(token))).status_code == 401
    assert (await http.post(f"{web[0]}{OPS}/{uid}/unlock", headers=admin)).status_code == 200
    assert (await http.post(f"{web[0]}{OPS}/{uid}/password", json={"password": "another-one"},
                            headers=admin)).status_code == 200
    assert (await http.post(f"{web[0]}{OPS}/{uid}/end-sessions", headers=admin)).json()["data"] == \
        {"endedSessions": 0}

    rows = await audit_rows(db, "operator", uid)
    assert [r["action"] for r in rows] == ["operator.create", "operator.update", "operator.lock", "operator.unlock",
                                           "operator.password", "operator.end_sessions"]
    assert all(r["actor_id"] == admin_user.id and r["client_addr"] == "127.0.0.1" for r in rows)
    create, update, lock, unlock, password, _ = rows
    assert create["before"] is None and create["after"]["login"] == body["login"]
    assert create["after"]["teamId"] == team_id
    assert "password" not in str(create).lower().replace("operator.password", "")
    assert (update["before"]["role"], update["after"]["role"]) == ("operator", "supervisor")
    assert (update["before"]["lastName"], update["after"]["lastName"]) == ("Петрова", "Сидорова")
    assert (update["before"]["teamId"], update["after"]["teamId"]) == (team_id, None)
    assert (lock["before"]["locked"], lock["after"]["locked"], lock["after"]["endedSessions"]) == (False, True, 1)
    assert (unlock["before"]["locked"], unlock["after"]["locked"]) == (True, False)
    assert password["after"]["passwordChanged"] is True


async def test_a_refused_action_leaves_no_audit_row_and_no_change(http, web, db, make_user):
    admin_user = await make_user("admin")
    admin = bearer(await login(http, web[0], admin_user))
    victim = await make_user("operator")
    before = await db.fetchval("SELECT max(id) FROM audit_log")

    dup = await http.post(f"{web[0]}{OPS}", json={"login": victim.login, "password": "long-enough",
                                                  "firstName": "A", "lastName": "B"}, headers=admin)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "LOGIN_TAKEN"
    no_team = await http.patch(f"{web[0]}{OPS}/{victim.id}", json={"firstName": "Новое", "teamId": 10**12},
                               headers=admin)
    assert no_team.status_code == 404 and no_team.json()["error"]["code"] == "TEAM_NOT_FOUND"
    assert await db.fetchval("SELECT first_name FROM operators WHERE id = $1", victim.id) == "Тест"
    self_lock = await http.post(f"{web[0]}{OPS}/{admin_user.id}/lock", headers=admin)
    assert self_lock.json()["error"]["code"] == "CANNOT_LOCK_SELF"
    own_role = await http.patch(f"{web[0]}{OPS}/{admin_user.id}", json={"role": "operator"}, headers=admin)
    assert own_role.status_code == 409 and own_role.json()["error"]["code"] == "CANNOT_CHANGE_OWN_ROLE"
    missing = await http.post(f"{web[0]}{OPS}/{10**12}/lock", headers=admin)
    assert missing.status_code == 404
    name = unique("T ")
    assert (await http.post(f"{web[0]}/api/admin/v1/teams", json={"name": name}, headers=admin)).status_code == 201
    mark = await db.fetchval("SELECT max(id) FROM audit_log")
    taken = await http.post(f"{web[0]}/api/admin/v1/teams", json={"name": name.upper()}, headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "TEAM_NAME_TAKEN"
    # A supervisor acting on an offline operator: refused, and the pause and its audit row roll back together.
    sup = bearer(await login(http, web[0], await make_user("supervisor")))
    offline = await http.post(f"{web[0]}/api/supervisor/v1/operators/{victim.id}/pause", json={"reason": "BREAK"},
                              headers=sup)
    assert offline.status_code == 409 and offline.json()["error"]["code"] == "OPERATOR_OFFLINE"
    actions = await db.fetch("SELECT action FROM audit_log WHERE id > $1", before or 0)
    assert [r["action"] for r in actions] == ["team.create"]
    assert await db.fetchval("SELECT max(id) FROM audit_log") == mark


async def test_teams_rename_delete_and_assign(http, web, db, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    op = await make_user("operator")
    team = (await http.post(f"{web[0]}/api/admin/v1/teams", json={"name": unique("A ")}, headers=admin)).json()
    tid = team["data"]["id"]
    assert (await http.patch(f"{web[0]}{OPS}/{op.id}", json={"teamId": tid}, headers=admin)).status_code == 200
    listed = await http.get(f"{web[1]}{OPS}", params={"teamId": tid}, headers=admin)
    assert [o["id"] for o in listed.json()["data"]] == [op.id]
    renamed = await http.patch(f"{web[0]}/api/admin/v1/teams/{tid}", json={"name": "  "}, headers=admin)
    assert renamed.status_code == 400
    new_name = unique("B ")
    renamed = await http.patch(f"{web[0]}/api/admin/v1/teams/{tid}", json={"name": new_name}, headers=admin)
    assert renamed.json()["data"] | {"name": new_name, "members": 1} == renamed.json()["data"]
    assert (await http.delete(f"{web[0]}/api/admin/v1/teams/{tid}", headers=admin)).status_code == 200
    assert await db.fetchval("SELECT team_id FROM operators WHERE id = $1", op.id) is None
    assert (await http.delete(f"{web[0]}/api/admin/v1/teams/{tid}", headers=admin)).status_code == 404
    rows = await audit_rows(db, "team", tid)
    assert [r["action"] for r in rows] == ["team.create", "team.rename", "team.delete"]
    assert rows[1]["after"]["name"] == new_name and rows[2]["before"]["members"] == 1 and rows[2]["after"] is None


async def test_a_revoked_permission_refuses_the_next_request_on_every_process(http, web, db, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    sup_token = await login(http, web[1], await make_user("supervisor"))
    sup = bearer(sup_token)
    url = f"{web[1]}/api/supervisor/v1/operatorStates"
    assert (await http.get(url, headers=sup)).status_code == 200  # web[1] has the permissions cached now
    floor = await FloorSocket.open(web[0], sup_token)  # a floor page already open when the grant goes
    matrix = (await http.get(f"{web[0]}/api/admin/v1/permissions", headers=admin)).json()["data"]
    original = matrix["roles"]["supervisor"]
    assert "floor.view" in original and "users.manage" not in original
    try:
        revoked = [p for p in original if p != "floor.view"]
        r = await http.put(f"{web[0]}/api/admin/v1/permissions/supervisor", json={"permissions": revoked},
                           headers=admin)
        assert r.status_code == 200 and "floor.view" not in r.json()["data"]["roles"]["supervisor"]
        refused = await http.get(url, headers=sup)  # the other process, at once
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["data"]["permission"] == "floor.view"
        # The open floor page stops receiving the floor too (at the feed's next session sweep).
        assert await floor.until(lambda f: any(x["type"] == "SESSION_ENDED" for x in floor.frames), timeout=5)
        # ... and a permission granted works as promptly (a supervisor may now manage users).
        await http.put(f"{web[0]}/api/admin/v1/permissions/supervisor",
                       json={"permissions": [*original, "users.manage"]}, headers=admin)
        assert (await http.get(url, headers=sup)).status_code == 200
        created = await http.post(f"{web[1]}{OPS}", json={"login": unique("s_"), "password": "long-enough",
                                                          "firstName": "A", "lastName": "B"}, headers=sup)
        assert created.status_code == 201
    finally:
        await http.put(f"{web[0]}/api/admin/v1/permissions/supervisor", json={"permissions": original},
                       headers=admin)
    rows = [r for r in await audit_rows(db, "role", "supervisor")][-3:]
    assert rows[0]["after"]["revoked"] == ["floor.view"] and rows[0]["before"]["permissions"] == sorted(original)
    assert rows[1]["after"]["granted"] == ["floor.view", "users.manage"]


async def test_admins_cannot_lock_themselves_out(http, web, db, make_user):
    admin_user = await make_user("admin")
    admin = bearer(await login(http, web[0], admin_user))
    everything = (await http.get(f"{web[0]}/api/admin/v1/permissions", headers=admin)).json()["data"]
    assert everything["protected"]["admin"] == ["permissions.manage", "users.manage"]
    bad = await http.put(f"{web[0]}/api/admin/v1/permissions/admin", json={"permissions": ["audit.view"]},
                         headers=admin)
    assert bad.status_code == 409 and bad.json()["error"]["code"] == "PERMISSION_PROTECTED"
    unknown = await http.put(f"{web[0]}/api/admin/v1/permissions/analyst", json={"permissions": ["root.all"]},
                             headers=admin)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "UNKNOWN_PERMISSION"
    assert (await http.put(f"{web[0]}/api/admin/v1/permissions/boss", json={"permissions": []},
                           headers=admin)).status_code == 400

    # The last unlocked admin can be neither locked nor demoted, even by someone allowed to manage users.
    sup_user = await make_user("supervisor")
    sup = bearer(await login(http, web[1], sup_user))
    supervisor_perms = everything["roles"]["supervisor"]
    others = [r["id"] for r in await db.fetch(
        "SELECT id FROM operators WHERE role = 'admin' AND NOT locked AND id <> $1", admin_user.id)]
    await db.execute("UPDATE operators SET locked = true WHERE id = ANY($1::bigint[])", others)
    try:
        await http.put(f"{web[0]}/api/admin/v1/permissions/supervisor",
                       json={"permissions": [*supervisor_perms, "users.manage"]}, headers=admin)
        for attempt in (http.post(f"{web[1]}{OPS}/{admin_user.id}/lock", headers=sup),
                        http.patch(f"{web[1]}{OPS}/{admin_user.id}", json={"role": "supervisor"}, headers=sup)):
            r = await attempt
            assert r.status_code == 409 and r.json()["error"]["code"] == "LAST_ADMIN", r.text
        assert (await http.get(f"{web[0]}/api/arm/v1/me", headers=admin)).status_code == 200
    finally:
        await db.execute("UPDATE operators SET locked = false WHERE id = ANY($1::bigint[])", others)
        await http.put(f"{web[0]}/api/admin/v1/permissions/supervisor", json={"permissions": supervisor_perms},
                       headers=admin)


async def test_rules_dnc_bookings_and_campaigns_are_audited(http, web, db, make_user):
    admin_user = await make_user("admin")
    admin = bearer(await login(http, web[0], admin_user))
    campaign = await http.post(f"{web[0]}/api/admin/v1/campaigns", json={"name": unique("C ")}, headers=admin)
    cid = campaign.json()["data"]["id"]
    await http.patch(f"{web[0]}/api/admin/v1/campaigns/{cid}", json={"description": "новое"}, headers=admin)
    phone = "79" + str(random.randrange(10**9)).zfill(9)
    put = await http.post(f"{web[0]}/api/admin/v1/do-not-call", json={"phone": phone, "reason": "asked"},
                          headers=admin)
    assert put.status_code == 200, put.text
    assert (await http.post(f"{web[0]}/api/admin/v1/do-not-call/delete", json={"phone": phone},
                            headers=admin)).status_code == 200
    mark = await db.fetchval("SELECT max(id) FROM audit_log")
    gone = await http.post(f"{web[0]}/api/admin/v1/do-not-call/delete", json={"phone": phone}, headers=admin)
    assert gone.status_code == 404
    assert await db.fetchval("SELECT max(id) FROM audit_log") == mark  # nothing deleted, nothing recorded
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    booked = await http.post(f"{web[0]}/api/admin/v1/bookings", json={"phone": phone, "campaignId": cid,
                                                                       "until": until}, headers=admin)
    assert booked.status_code == 200, booked.text
    assert (await http.post(f"{web[0]}/api/admin/v1/bookings/delete", json={"phone": phone},
                            headers=admin)).status_code == 200
    phone_rows = await audit_rows(db, "phone", phone)
    assert [r["action"] for r in phone_rows] == ["dnc.put", "dnc.delete", "booking.put", "booking.delete"]
    assert phone_rows[0]["before"] is None and phone_rows[0]["after"]["reason"] == "asked"
    assert phone_rows[1]["after"] is None and phone_rows[3]["before"]["campaign_id"] == cid
    campaign_rows = await audit_rows(db, "campaign", cid)
    assert [r["action"] for r in campaign_rows] == ["campaign.create", "campaign.update"]
    assert campaign_rows[1]["before"]["description"] is None and campaign_rows[1]["after"]["description"] == "новое"


async def test_the_audit_log_viewer_filters_pages_exports_and_is_append_only(http, web, db, make_user):
    admin_user = await make_user("admin")
    admin = bearer(await login(http, web[0], admin_user))
    started = datetime.now(UTC) - timedelta(seconds=1)
    names = [unique("V ") for _ in range(3)]
    for name in names:
        assert (await http.post(f"{web[0]}/api/admin/v1/teams", json={"name": name},
                                headers=admin)).status_code == 201
    url = f"{web[1]}/api/admin/v1/audit"
    mine = {"actorId": admin_user.id}
    page = (await http.get(url, params={**mine, "limit": 2}, headers=admin)).json()["data"]
    assert [e["after"]["name"] for e in page["items"]] == [names[2], names[1]]
    assert page["items"][0]["actorLogin"] == admin_user.login and page["items"][0]["clientAddr"] == "127.0.0.1"
    rest = (await http.get(url, params={**mine, "limit": 2, "beforeId": page["nextBeforeId"]},
                           headers=admin)).json()["data"]
    assert [e["after"]["name"] for e in rest["items"]] == [names[0]] and rest["nextBeforeId"] is None
    one = (await http.get(url, params={"targetType": "team", "targetId": page["items"][0]["targetId"]},
                          headers=admin)).json()["data"]["items"]
    assert len(one) == 1 and one[0]["action"] == "team.create"
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await http.get(url, params={**mine, "from": later}, headers=admin)).json()["data"]["items"] == []
    period = {**mine, "action": "team.create", "from": started.isoformat(), "to": later}
    assert len((await http.get(url, params=period, headers=admin)).json()["data"]["items"]) == 3
    bad = await http.get(url, params={"from": "yesterday"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "from"

    exported = await http.get(f"{url}/export.csv", params=period, headers=admin)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")), delimiter=";"))
    assert table[0][:5] == ["id", "created_at", "actor_id", "actor_login", "action"]
    assert [names[i] in row[-1] for i, row in enumerate(table[1:])] == [True, True, True]
    comma = await http.get(f"{url}/export.csv", params={**period, "sep": "comma"}, headers=admin)
    assert comma.content.decode("utf-8-sig").splitlines()[0].startswith("id,created_at,")

    for role in ("operator", "supervisor", "analyst"):
        other = bearer(await login(http, web[0], await make_user(role)))
        assert (await http.get(url, headers=other)).status_code == 403
        assert (await http.get(f"{url}/export.csv", headers=other)).status_code == 403

    for statement in ("UPDATE audit_log SET action = 'x.y'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(Exception, match="append-only"):
            await db.execute(statement)


async def test_the_default_permissions_are_the_roles_of_before(db):
    """Migration 0019 seeds role_permissions so that nothing changes for anyone until an admin changes it: what
    SUPERVISOR guarded is every .view, floor.control and leads.import; ADMIN everything; ANALYST the reports."""
    from backend.auth.permissions import CATALOGUE

    rows = await db.fetch("SELECT role, array_agg(permission ORDER BY permission) AS p FROM role_permissions "
                          "GROUP BY role")
    grants = {r["role"]: set(r["p"]) for r in rows}
    supervisor = {p for p in CATALOGUE if p.endswith(".view") and p != "audit.view"} | {
        "floor.control", "leads.import", "reports.export"}
    assert grants == {"admin": set(CATALOGUE), "supervisor": supervisor,
                      "analyst": {"reports.view", "reports.export"}}


async def test_two_admins_locking_each_other_at_once_get_answers_not_a_deadlock(http, web, make_user):
    """Each lock took its target's row and then every other admin's: A locking B while B locks A was a lock
    cycle, PostgreSQL killed one and the admin saw a 500. Now both queue on the admins' rows in one order."""
    import asyncio

    for _ in range(4):
        a, b = await make_user("admin"), await make_user("admin")
        ha, hb = bearer(await login(http, web[0], a)), bearer(await login(http, web[1], b))
        answers = await asyncio.gather(http.post(f"{web[0]}{OPS}/{b.id}/lock", headers=ha),
                                       http.post(f"{web[1]}{OPS}/{a.id}/lock", headers=hb))
        assert all(r.status_code in (200, 401, 409) for r in answers), [(r.status_code, r.text) for r in answers]
        assert any(r.status_code == 200 for r in answers)
