"""The floor's counters are kept from the events as they flow; after a burst they agree with PostgreSQL, and
again after the worker that keeps them is killed and another rebuilds them."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.conftest import bearer, login
from tests.harness import WebProcess, unique
from tests.integration.workstation.helpers import event, push, seed_task

OPERATORS = 8
CALLS_EACH = 5


async def _truth(db, op_ids: list[int]) -> dict[str, dict[str, int]]:
    today = datetime.now(ZoneInfo("Europe/Moscow")).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = await db.fetch(
        """SELECT o.id,
                  (SELECT count(*) FROM communications c WHERE c.operator_id = o.id AND c.created_at >= $2) AS calls,
                  (SELECT count(*) FROM communications c WHERE c.operator_id = o.id AND c.state = 'FIXED'
                      AND NOT c.completed_late AND c.fixed_at >= $2) AS in_window,
                  (SELECT count(*) FROM communications c WHERE c.operator_id = o.id AND c.state = 'DRAFT') AS drafts
             FROM operators o WHERE o.id = ANY($1::bigint[])""", op_ids, today)
    return {str(r["id"]): {"callsToday": r["calls"], "savedInWindowToday": r["in_window"], "drafts": r["drafts"]}
            for r in rows}


async def _floor_counts(http, base: str, headers: dict[str, str], op_ids: list[int]) -> dict[str, dict[str, int]]:
    floor = (await http.get(f"{base}/api/supervisor/v1/floor", headers=headers)).json()["data"]["floor"]
    return {str(op): {k: floor["operators"].get(str(op), {}).get(k) for k in ("callsToday", "savedInWindowToday",
                                                                             "drafts")} for op in op_ids}


async def _agree(http, base, headers, db, op_ids, timeout: float = 30.0) -> dict[str, dict[str, int]]:
    truth = await _truth(db, op_ids)
    deadline = asyncio.get_running_loop().time() + timeout
    while (seen := await _floor_counts(http, base, headers, op_ids)) != truth:
        if asyncio.get_running_loop().time() > deadline:
            assert seen == truth
        await asyncio.sleep(0.2)
    return truth


async def test_counters_agree_with_postgresql_after_a_burst_and_a_rebuild(http, web, db, make_user, services,
                                                                         shared_worker):
    headers = bearer(await login(http, web[0], await make_user("supervisor")))
    ops = [await make_user("operator") for _ in range(OPERATORS)]
    tokens = {op.id: await login(http, web[0], op) for op in ops}
    rng = random.Random(14)

    async def calls_of(op) -> None:
        for _ in range(CALLS_EACH):
            task = await seed_task(db, with_product=False)
            call = unique("call-")
            started = await push(http, web[rng.randrange(2)], event("CALL_STARTED", op.id, task, call))
            comm = started.json()["data"]["communicationId"]
            await push(http, web[rng.randrange(2)], event("CALL_ENDED", op.id, task, call))
            fate = rng.random()
            if fate < 0.6:  # saved in the window
                saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=bearer(tokens[op.id]),
                                        json={"communicationId": comm, "clientPhone": task["phone"],
                                              "communicationResult": {"result": "Согласен"}})
                assert saved.status_code == 200
            elif fate < 0.8:  # the window passes: a draft in rework
                await db.execute("UPDATE communications SET result_deadline = now() WHERE id = $1", comm)
                for _ in range(50):
                    if await db.fetchval("SELECT state FROM communications WHERE id = $1", comm) == "DRAFT":
                        break
                    await asyncio.sleep(0.1)
            # else: left in the window (still WRAP_UP until the next call supersedes it)

    await asyncio.gather(*(calls_of(op) for op in ops))
    op_ids = [op.id for op in ops]
    truth = await _agree(http, web[1], headers, db, op_ids)
    assert sum(t["callsToday"] for t in truth.values()) == OPERATORS * CALLS_EACH
    assert any(t["drafts"] for t in truth.values()) and any(t["savedInWindowToday"] for t in truth.values())

    # The worker dies (kill -9) and another one rebuilds the counters from PostgreSQL: nothing counted twice.
    shared_worker[0].kill()
    shared_worker[0] = WebProcess(services.web_env(), "shared-after-floor-kill", module="backend.worker")
    await asyncio.sleep(1.0)
    op = ops[0]
    task = await seed_task(db, with_product=False)
    await push(http, web[0], event("CALL_STARTED", op.id, task, unique("call-")))
    truth = await _agree(http, web[0], headers, db, op_ids, timeout=40)
    assert truth[str(op.id)]["callsToday"] == CALLS_EACH + 1
