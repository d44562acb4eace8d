"""The thesis' operator flow (ch. 3, §2.6.5) driven against running web and worker processes by a client that
knows only the appendices: every answer is checked field by field against ``spec``, and by the end every
field the appendices describe has been met in a real answer at least once."""

from __future__ import annotations

import asyncio
import copy

from tests.contract.client import ThesisClient, seed_client
from tests.contract.spec import ENDPOINTS, EXAMPLE_REQUESTS
from tests.harness import unique
from tests.integration.workstation.helpers import event, phone, push


async def _polls(client: ThesisClient, rounds: int, pause: float = 0.2) -> None:
    for _ in range(rounds):
        await client.poll()
        await asyncio.sleep(pause)


async def _until_card(client: ThesisClient, communication_id: int | None = None, tries: int = 50) -> dict:
    for _ in range(tries):
        card = await client.poll()
        if card is not None and (communication_id is None or
                                 card["data"]["clientCard"]["currentCommunication"]["id"] == communication_id):
            return card
        await asyncio.sleep(0.1)
    raise AssertionError("hasChanges never announced the card")


async def test_the_thesis_operator_flow_keeps_every_field_of_the_appendices(http, web, db, make_user, start_web):
    short = start_web(RESULT_WINDOW_SECONDS="2")  # the second call's window expires into rework
    op = await make_user("operator")
    client = ThesisClient(http, web[0])

    # Security service (appendices Б, Г, В): a denial is HTTP 200 with result.code (Рис. 33).
    sec = await client.call("security.login", {"login": op.login, "password": op.password})
    assert sec["result"]["code"] == "OK" and sec["data"]["operatorId"] == op.id
    denied = await client.call("security.login", {"login": op.login, "password": "wrong-password"})
    assert denied["result"]["code"] == "INVALID_CREDENTIALS" and "data" not in denied
    assert (await client.call("security.checkAccess", {"token": sec["data"]["token"], "updateExpire": True})
            )["result"]["code"] == "OK"
    assert (await client.call("security.checkAccess", EXAMPLE_REQUESTS["security.checkAccess"])
            )["result"] == {"code": "ACCESS_DENIED", "description": "Доступ запрещен"}
    assert (await client.call("security.logout", {"token": sec["data"]["token"]}))["result"]["code"] == "OK"
    assert (await client.call("security.logout", EXAMPLE_REQUESTS["security.logout"]))["result"]["code"] == "OK"

    # The workstation (Д): log in, the rework list (Е), polling (Ж) with nothing to show.
    login = await client.call("arm.login", {"login": op.login, "password": op.password})
    client.token = login["data"]["token"]
    assert (await client.call("arm.listCommunications"))["data"]["communications"] == []
    assert await client.poll() is None

    # A call: the card pops (З) with two products, one without an end date.
    task = await seed_client(db, phone())
    call = unique("call-")
    await push(http, web[1], event("CALL_STARTED", op.id, task, call))
    card = await _until_card(client)
    current = card["data"]["clientCard"]["currentCommunication"]
    comm = current["id"]
    assert card["data"]["clientCard"]["clientInfo"]["phone"] == task["phone"]
    assert [p["endTime"] for p in card["data"]["clientCard"]["productList"]] == ["31.12.9999 23:59",
                                                                                 "20.12.2026 12:45"]

    # A draft as appendix И prints it, then the hang-up; the client keeps polling: never an error.
    draft = copy.deepcopy(EXAMPLE_REQUESTS["arm.saveCommunicationDraft"])
    draft.update(communicationId=comm, clientPhone=task["phone"])
    await client.call("arm.saveCommunicationDraft", draft)
    await push(http, web[1], event("CALL_ENDED", op.id, task, call))
    await _polls(client, 3)
    shown = (await client.call("arm.getClientCard"))["data"]["clientCard"]["currentCommunication"]
    assert shown["result"] == draft["communicationResult"]

    # The result as appendix К prints it: the communication is complete, the operator free.
    result = copy.deepcopy(EXAMPLE_REQUESTS["arm.saveCommunicationResult"])
    result.update(communicationId=comm, clientPhone=task["phone"])
    await client.call("arm.saveCommunicationResult", result)
    await _polls(client, 3)
    assert await client.call("arm.getClientCard") == {"status": "OK"}  # between calls: no card, no error

    # A second call to the same client: history holds the first; the window expires with a draft saved.
    call2 = unique("call-")
    await push(http, short.url, event("CALL_STARTED", op.id, task, call2))
    second = await _until_card(client)
    comm2 = second["data"]["clientCard"]["currentCommunication"]["id"]
    assert comm2 != comm
    [past] = second["data"]["clientCard"]["history"]
    assert past["id"] == comm and past["result"] == result["communicationResult"]
    later = {"communicationId": comm2, "clientPhone": task["phone"], "communicationResult": {
        "reason": "Не было с собой документа", "result": "Дополним позже", "comment": "Дополним позже"}}
    await client.call("arm.saveCommunicationDraft", later)
    await push(http, short.url, event("CALL_ENDED", op.id, task, call2))
    for _ in range(40):  # the client polls through the window and its expiry: every answer 200
        await client.poll()
        listed = (await client.call("arm.listCommunications"))["data"]["communications"]
        if listed:
            break
        await asyncio.sleep(0.2)
    [item] = listed
    assert item["id"] == comm2 and item["doId"] == "34697463"  # the current product
    assert item["result"]["RESULT"] == item["result"]["result"] == "Дополним позже"
    assert item["result"]["COMMENT"] == "Дополним позже"

    # Rework (Л), completed with a body as appendix К allows it: no communicationResult at all.
    reopened = await client.call("arm.getClientCardByCommunicationId", {"communicationId": comm2})
    assert reopened["data"]["clientCard"]["currentCommunication"]["result"]["result"] == "Дополним позже"
    await client.call("arm.saveCommunicationResult", {"communicationId": comm2, "clientPhone": task["phone"]})
    assert (await client.call("arm.listCommunications"))["data"]["communications"] == []
    await _polls(client, 2)

    await client.call("arm.logout")  # М

    for endpoint in ENDPOINTS:
        declared = {f.path for f in endpoint.response}
        missing = declared - client.seen[endpoint.name] - endpoint.unseen_ok
        assert not missing, (endpoint.name, sorted(missing))
