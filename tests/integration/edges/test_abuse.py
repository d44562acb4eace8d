"""Abuse bounded: socket limits and roles, security headers, logs that keep secrets out, the webhook's
operator check. Each drives a real web process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import websockets

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.workstation.helpers import Socket, event, push, seed_task


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_big_frames_before_hello_cannot_inflate_the_process(http, start_web):
    proc = start_web()
    url = proc.url.replace("http://", "ws://") + "/api/arm/v1/ws"
    before = _rss_kib(proc.proc.pid)
    blob = "x" * (16 * 1024 * 1024)

    async def abuse():
        async with websockets.connect(url, max_size=None, compression="deflate") as ws:
            assert ws.protocol.extensions == []  # the server refuses per-message compression
            try:
                await ws.send(blob)
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None
        return None
    codes = await asyncio.gather(*(abuse() for _ in range(30)))
    assert set(codes) == {1009}, codes  # "message too big", at 64 KiB
    grown = (_rss_kib(proc.proc.pid) - before) / 1024
    assert grown < 20, f"RSS grew by {grown:.1f} MiB"


async def test_the_socket_is_for_operators_only_and_capped_per_operator(http, web, make_user):
    supervisor = await login(http, web[0], await make_user("supervisor"))
    async with websockets.connect(web[0].replace("http://", "ws://") + "/api/arm/v1/ws") as ws:
        await ws.send(json.dumps({"type": "HELLO", "token": supervisor, "lastSeq": None}))
        assert json.loads(await ws.recv())["data"]["code"] == "ROLE_REQUIRED"
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 4403

    token = await login(http, web[0], await make_user("operator"))
    tabs = [await Socket.open(web[0], token) for _ in range(5)]
    assert all(t.hello["type"] == "HELLO_OK" for t in tabs)
    extra = await Socket.open(web[0], token)
    assert extra.hello["data"]["code"] == "TOO_MANY_SOCKETS"
    await asyncio.wait_for(extra.ws.wait_closed(), 5)
    assert extra.ws.close_code == 4429
    await tabs[0].close()
    await asyncio.sleep(0.2)
    assert (await Socket.open(web[0], token)).hello["type"] == "HELLO_OK"  # room again
    for t in tabs[1:]:
        await t.close()


async def test_every_response_carries_the_security_headers(http, web, make_user):
    token = await login(http, web[0], await make_user("operator"))
    for path, headers in (("/", {}), ("/main.js", {}), ("/api/arm/v1/listCommunications", bearer(token)),
                          ("/api/arm/v1/listCommunications", {}), ("/no/such/page", {})):
        r = await http.get(f"{web[0]}{path}", headers=headers)
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("referrer-policy") == "no-referrer", path
        if path.startswith("/api/"):
            assert r.headers.get("cache-control") == "no-store", path


async def test_logs_keep_query_strings_out_and_warning_means_warning(http, start_web, make_user):
    proc = start_web(LOG_LEVEL="WARNING")
    user = await make_user("operator")
    token = await login(http, proc.url, user)
    await http.get(f"{proc.url}/api/arm/v1/listCommunications?phone=79991234567&token=secret-{token[:8]}",
                   headers=bearer(token))
    await asyncio.sleep(0.3)
    text = proc.log_path.read_text()
    assert "79991234567" not in text and "secret-" not in text
    assert " INFO " not in text and "logged in" not in text, text[-2000:]


async def test_access_log_lines_have_the_path_only(http, start_web, make_user):
    proc = start_web(LOG_LEVEL="INFO")
    token = await login(http, proc.url, await make_user("operator"))
    await http.get(f"{proc.url}/api/arm/v1/listCommunications?phone=79991234567", headers=bearer(token))
    await asyncio.sleep(0.3)
    text = proc.log_path.read_text()
    assert "GET /api/arm/v1/listCommunications HTTP" in text
    assert "79991234567" not in text


async def test_the_webhook_refuses_a_call_for_an_operator_who_is_not_active(http, web, db, make_user):
    op = await make_user("operator")
    supervisor = await make_user("supervisor")
    await db.execute("UPDATE operators SET locked = true WHERE id = $1", op.id)
    task = await seed_task(db)
    for who in (op.id, supervisor.id):
        r = await push(http, web[0], event("CALL_STARTED", who, task, unique("call-")))
        assert r.status_code == 400 and r.json()["error"]["field"] == "operatorId", r.text
