"""/metrics (issue 17): Prometheus text of the web process, behind METRICS_TOKEN; the figures move with what
operators do (a socket opened, a draft saved, a card pushed)."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import websockets

from tests.conftest import bearer, login
from tests.harness import free_port, unique
from tests.integration.workstation.helpers import event, push, seed_task

TOKEN = "metrics-" + "t" * 32


def _value(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_metrics_need_the_token_and_are_absent_without_one(http, web, start_web):
    assert (await http.get(f"{web[0]}/metrics")).status_code == 404  # METRICS_TOKEN unset: no route
    proc = start_web(METRICS_TOKEN=TOKEN)
    assert (await http.get(f"{proc.url}/metrics")).status_code == 401
    assert (await http.get(f"{proc.url}/metrics", headers=bearer("wrong"))).status_code == 401
    r = await http.get(f"{proc.url}/metrics", headers=bearer(TOKEN))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    for name in ("tm_screen_pop_seconds", "tm_operator_sockets_open", "tm_saves_total"):
        assert name in r.text


async def test_sockets_saves_and_the_cards_web_stage_are_counted(http, db, make_user, start_web, shared_worker):
    proc = start_web(METRICS_TOKEN=TOKEN)
    op = await make_user("operator")
    token = await login(http, proc.url, op)

    async def scrape() -> str:
        return (await http.get(f"{proc.url}/metrics", headers=bearer(TOKEN))).text

    before = await scrape()
    ws = await websockets.connect(proc.url.replace("http://", "ws://") + "/api/arm/v1/ws")
    try:
        await ws.send(json.dumps({"type": "HELLO", "token": token, "lastSeq": None}))
        assert json.loads(await ws.recv())["type"] == "HELLO_OK"
        assert _value(await scrape(), "tm_operator_sockets_open") == _value(before, "tm_operator_sockets_open") + 1

        task = await seed_task(db)
        started = await push(http, proc.url, event("CALL_STARTED", op.id, task, unique("call-")))
        assert started.status_code == 200, started.text
        comm_id = started.json()["data"]["communicationId"]
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "CLIENT_CARD_READY":
            pass
        body = {"communicationId": comm_id, "clientPhone": task["phone"], "communicationResult": {"comment": "x"}}
        assert (await http.post(f"{proc.url}/api/arm/v1/saveCommunicationDraft", json=body,
                                headers=bearer(token))).status_code == 200
        body["clientPhone"] = "70000000000"
        assert (await http.post(f"{proc.url}/api/arm/v1/saveCommunicationDraft", json=body,
                                headers=bearer(token))).status_code == 400
        after = await scrape()
    finally:
        await ws.close()
    assert _value(after, "tm_saves_total", '{kind="draft",status="ok"}') == 1
    assert _value(after, "tm_saves_total", '{kind="draft",status="refused"}') == 1
    # The card came through this process's hub (the push endpoint publishes, the hub sends): its web stage.
    assert _value(after, "tm_screen_pop_seconds_count", '{stage="web"}') >= 1
    for _ in range(50):
        if _value(await scrape(), "tm_operator_sockets_open") == _value(before, "tm_operator_sockets_open"):
            break
        await asyncio.sleep(0.1)
    assert _value(await scrape(), "tm_operator_sockets_open") == _value(before, "tm_operator_sockets_open")


async def test_a_worker_serves_its_metrics_on_its_own_port(http, start_web):
    """WORKER_METRICS_PORT: the worker's /metrics (its call-event figures: lag, the screen pop's worker stage).
    The worker once crashed at start with it set (the function serving it was defined below the module's main
    call, so ``python -m backend.worker`` never reached it): a deployer scraping workers got a crash loop."""
    port = free_port()
    worker = start_web(module="backend.worker", wait=None, WORKER_METRICS_PORT=str(port))
    text = ""
    for _ in range(100):
        assert worker.proc.poll() is None, "the worker exited: " + worker.log_path.read_text()[-2000:]
        try:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            break
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    for name in ("tm_call_event_lag_seconds", "tm_screen_pop_seconds"):
        assert name in text
