"""The whole exchange on the whole stack: an outside system's request becomes a task that the telephony
process hands to the provider (simulator), the provider rings the logged-in operator, the operator saves a
result from the campaign's taxonomy, and the outcome is pushed to the outside system with the three levels."""

from __future__ import annotations

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.exchange.conftest import EXCHANGE_ENV
from tests.integration.exchange.helpers import Exchange, eventually, make_campaign, phone, request_body
from tests.integration.workstation.helpers import Socket


async def test_request_dial_result_push(http, stack, integrations_sim):
    st = await stack(**EXCHANGE_ENV)
    op = await st.user()
    token = await login(http, st.web.url, op)
    ws = await Socket.open(st.web.url, token)

    async def session_open():
        return [s for s in (await st.sim(http, "GET", "/_state"))["sessions"] if s["login"] == op.login]
    await st.wait_for(session_open)

    admin = bearer(await login(http, st.web.url, await st.user("admin")))
    campaign = await make_campaign(http, st.web.url, admin)
    name = unique("rcv-")
    ex = await Exchange.create(http, st.web.url, admin, campaign_id=campaign, push_url=integrations_sim.push_url(name))
    integrations_sim.receiver(name, secret=ex.secret)

    client_phone = phone()
    body = request_body(client_phone)
    answer = (await ex.send(body)).json()
    assert answer["statusCode"] == "0" and answer["replyUID"] == body["requestID"]

    card = await ws.next(timeout=20)  # handed over, dialled by the provider, connected to the operator
    assert card["type"] == "CLIENT_CARD_READY"
    assert card["data"]["clientCard"]["clientInfo"]["phone"] == client_phone
    assert (await ws.next(timeout=20))["type"] == "CALL_ENDED"
    assert (await ex.poll(body["requestID"])).json()["taskState"] == "DONE"
    assert integrations_sim.pushes(name)["pushes"] == []  # the call alone is not an outcome

    saved = await http.post(f"{st.web.url}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": card["data"]["communicationId"], "clientPhone": client_phone,
        "communicationResult": {"result": "REACHED", "reason": "NOT_PLANS", "reasonDetail": "OTHER_BANK"}})
    assert saved.status_code == 200, saved.text

    async def accepted():
        return integrations_sim.pushes(name)["accepted"]
    await eventually(accepted)
    [received] = integrations_sim.pushes(name)["pushes"]
    assert received["signatureValid"] is True
    pushed = received["body"]
    assert pushed["requestID"] == answer["requestID"] and pushed["taskID"] == answer["taskID"]
    assert (pushed["taskStatus"], pushed["taskExecType"], pushed["taskExecDescr"]) == ("3", "Ручной", "Обработано")
    assert [pushed[f"{n}LevelClientReaction"] for n in ("first", "second", "third")] == [
        "Дозвон", "Дозвон - не планирует миграцию", "Перешел в другой банк"]
    await ws.close()
