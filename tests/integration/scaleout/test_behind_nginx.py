"""Three web processes behind nginx: a card reaches the socket whatever process holds it, a socket that
drops resumes on another process with nothing missed, and a logout on one process ends the session on all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from tests.conftest import bearer, login
from tests.harness import ARTIFACTS, WebProcess, unique
from tests.integration.scaleout.balancer import Nginx, nginx_binary
from tests.integration.workstation.helpers import Socket, event, seed_task, xadd


@pytest.fixture
async def balanced(start_web: Any, shared_worker: list[WebProcess]) -> AsyncIterator[tuple[Nginx, list[WebProcess]]]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed and could not be (python3 dev.py test installs Debian's nginx-light)")
    webs = [start_web(wait=None, TRUSTED_PROXIES="127.0.0.1") for _ in range(3)]
    for web in webs:
        await asyncio.to_thread(web.wait_ready)
    nginx = Nginx(binary, ARTIFACTS / unique("nginx-"), [w.port for w in webs])
    try:
        await asyncio.to_thread(nginx.wait_ready)
        yield nginx, webs
    finally:
        nginx.stop()


def upstream(ws: Socket) -> str:
    """The web process nginx put this socket on (nginx's X-Upstream header on the 101 answer)."""
    return str(ws.ws.response.headers["X-Upstream"])


async def open_on(url: str, token: str, *, avoid: set[str],
                  last_seq: int | None = None) -> Socket:
    """Open sockets through the balancer until one lands on a process not in ``avoid``."""
    for _ in range(12):
        ws = await Socket.open(url, token, last_seq=last_seq)
        if upstream(ws) not in avoid:
            return ws
        await ws.close()
    raise AssertionError(f"nginx never chose a process other than {avoid}")


async def wait_applied(db: Any, operator_id: int, seq: int) -> None:
    for _ in range(100):
        if (await db.fetchval("SELECT max(seq) FROM operator_events WHERE operator_id = $1", operator_id) or 0) >= seq:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"seq {seq} never applied")


async def test_push_resume_and_logout_across_three_processes_behind_nginx(http, db, make_user, services, balanced):
    nginx, webs = balanced
    op = await make_user("operator")
    token = await login(http, nginx.url, op)

    # Cross-process push: the worker applies the call event; the socket's process (whichever) pushes the card.
    ws = await Socket.open(nginx.url, token)
    first = upstream(ws)
    assert first in {f"127.0.0.1:{w.port}" for w in webs}
    start = ws.hello["data"]["lastSeq"]
    task = await seed_task(db)
    call = unique("call-")
    await xadd(services.redis_url, services.redis_prefix, event("CALL_STARTED", op.id, task, call))
    card = await ws.next(timeout=10)
    assert card["type"] == "CLIENT_CARD_READY" and card["seq"] == start + 1
    assert card["data"]["clientCard"]["clientInfo"]["phone"] == task["phone"]

    # Resume elsewhere: the socket drops, events happen meanwhile, the client comes back through nginx to
    # another process with its last seq and gets exactly what it missed, in order.
    await ws.close()
    await xadd(services.redis_url, services.redis_prefix, event("CALL_ENDED", op.id, task, call))
    comm = card["data"]["communicationId"]
    saved = await http.post(f"{nginx.url}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm, "clientPhone": task["phone"], "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200, saved.text
    last = await db.fetchval("SELECT max(seq) FROM operator_events WHERE operator_id = $1", op.id)
    assert last >= start + 3  # CALL_ENDED, RESULT_SAVED (and what follows it)
    await wait_applied(db, op.id, last)
    again = await open_on(nginx.url, token, avoid={first}, last_seq=start + 1)
    missed = [await again.next(timeout=5) for _ in range(last - start - 1)]
    assert [f["seq"] for f in missed] == list(range(start + 2, last + 1))  # no gap, no repeat
    assert [f["type"] for f in missed][:2] == ["CALL_ENDED", "RESULT_SAVED"]
    assert await again.silent(0.5)

    # Logout on one process ends the session on all: sockets on the other processes close, and every
    # process (directly, not only through nginx) refuses the token.
    holders = {upstream(again)}
    sockets = [again]
    while len(holders) < 3:
        other = await open_on(nginx.url, token, avoid=holders)
        holders.add(upstream(other))
        sockets.append(other)
    out = await http.get(f"{nginx.url}/api/arm/v1/logout", headers=bearer(token))
    assert out.status_code == 200, out.text
    for sock in sockets:
        frame = await sock.next(timeout=3)
        assert frame["type"] == "SESSION_ENDED"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await sock.next(timeout=3)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    for web in webs:
        refused = await http.get(f"{web.url}/api/arm/v1/listCommunications", headers=bearer(token))
        assert refused.status_code == 401, refused.text
    refused_ws = await Socket.open(nginx.url, token)
    assert refused_ws.hello["type"] == "ERROR" and refused_ws.hello["data"]["code"] == "INVALID_TOKEN"
