"""Admins manage integration clients and their keys: secrets shown once, names unique, campaigns checked,
a client switched off is refused; only admins may."""

from __future__ import annotations

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.exchange.helpers import Exchange, make_campaign, phone, request_body

BASE = "/api/admin/v1/integration-clients"


async def test_clients_and_keys_are_managed_by_admins(http, web, make_user, db):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    campaign = await make_campaign(http, web[0], admin)
    name = unique("crm-")
    made = await http.post(f"{web[0]}{BASE}", headers=admin, json={"name": name, "campaignId": campaign})
    assert made.status_code == 201
    client = made.json()["data"]
    assert len(client["signingSecret"]) >= 32 and client["taskValidityHours"] == 72 and client["active"] is True
    shown = await http.get(f"{web[0]}{BASE}/{client['id']}", headers=admin)
    assert "signingSecret" not in shown.json()["data"]  # shown once only

    twin = await http.post(f"{web[0]}{BASE}", headers=admin, json={"name": name.upper(), "campaignId": campaign})
    assert twin.status_code == 409 and twin.json()["error"]["code"] == "INTEGRATION_CLIENT_EXISTS"
    nowhere = await http.post(f"{web[0]}{BASE}", headers=admin, json={"name": unique("crm-"), "campaignId": 10**12})
    assert nowhere.status_code == 400 and nowhere.json()["error"]["code"] == "CAMPAIGN_NOT_FOUND"
    short = await http.post(f"{web[0]}{BASE}", headers=admin, json={"name": unique("crm-"), "signingSecret": "x"})
    assert short.status_code == 400 and short.json()["error"]["field"] == "signingSecret"

    rotated = await http.patch(f"{web[0]}{BASE}/{client['id']}", headers=admin,
                               json={"rotateSigningSecret": True, "pushUrl": "http://127.0.0.1:1/push"})
    assert rotated.status_code == 200
    assert rotated.json()["data"]["signingSecret"] not in (None, client["signingSecret"])
    assert rotated.json()["data"]["pushUrl"] == "http://127.0.0.1:1/push"
    cleared = await http.patch(f"{web[0]}{BASE}/{client['id']}", headers=admin, json={"pushUrl": None})
    assert cleared.json()["data"]["pushUrl"] is None and "signingSecret" not in cleared.json()["data"]

    key = await http.post(f"{web[0]}{BASE}/{client['id']}/keys", headers=admin, json={"label": "prod"})
    assert key.status_code == 201 and key.json()["data"]["apiKey"].startswith(key.json()["data"]["keyId"] + ".")
    listed = (await http.get(f"{web[0]}{BASE}/{client['id']}/keys", headers=admin)).json()["data"]
    assert [k["keyId"] for k in listed] == [key.json()["data"]["keyId"]] and "apiKey" not in listed[0]
    assert (await http.get(f"{web[0]}{BASE}/{10**12}/keys", headers=admin)).status_code == 404
    assert (await http.delete(f"{web[0]}{BASE}/{client['id']}/keys/ik_nope", headers=admin)).status_code == 404

    revoked = await http.delete(f"{web[0]}{BASE}/{client['id']}/keys/{key.json()['data']['keyId']}", headers=admin)
    assert revoked.status_code == 200

    # Each change is in the audit log, written with it; no secret is ever in it.
    rows = await db.fetch("SELECT action, before, after FROM audit_log WHERE target_type = 'integration_client' "
                          "AND target_id = $1 ORDER BY id", str(client["id"]))
    assert [r["action"] for r in rows] == [
        "integration_client.create", "integration_client.update", "integration_client.update",
        "integration_key.create", "integration_key.revoke"]
    text = " ".join(str(r["before"]) + str(r["after"]) for r in rows)
    for secret in (client["signingSecret"], rotated.json()["data"]["signingSecret"],
                   key.json()["data"]["apiKey"].split(".", 1)[1]):
        assert secret not in text
    assert "signingSecretRotated" in str(rows[1]["after"])

    for role in ("operator", "supervisor"):
        token = bearer(await login(http, web[0], await make_user(role)))
        assert (await http.get(f"{web[0]}{BASE}", headers=token)).status_code == 403
        assert (await http.get(f"{web[0]}/api/admin/v1/integration-deliveries", headers=token)).status_code == 403


async def test_a_client_switched_off_is_refused(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    ex = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin))
    off = await http.patch(f"{web[0]}{BASE}/{ex.client_id}", headers=admin, json={"active": False})
    assert off.status_code == 200
    fresh = await ex.new_key()  # not yet remembered by the web process: checked now
    refused = await ex.send(request_body(phone()), api_key=fresh)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "INTEGRATION_CLIENT_INACTIVE"
