"""The invariant checker's do-not-call rule against a made-up provider record (no stack needed): a dial whose
hand-over began after the entry committed is a violation; one handed over before it is allowed even if the
provider received or rang it afterwards (counted apart)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg

from tests.faults.invariants import _no_dial_to_dnc


def _task(n: int, phone: str, handed_over: datetime) -> dict[str, object]:
    return {"taskId": f"t-x-{n}", "externalId": str(n), "phone": phone, "status": "DONE",
            "idempotencyKey": f"tt-{n}-{int(handed_over.timestamp() * 1_000_000)}"}


async def test_a_dial_handed_over_after_the_entry_committed_is_a_violation(db: asyncpg.Pool) -> None:
    rng = random.Random()
    late, early, free = (f"7{rng.randrange(10**10):010d}" for _ in range(3))
    await db.execute("INSERT INTO do_not_call (phone, reason, source) VALUES ($1, 'test', 'ADMIN'), "
                     "($2, 'test', 'ADMIN')", late, early)
    tracked = await db.fetchval("SHOW track_commit_timestamp") == "on"
    entered = await db.fetchval(f"SELECT {'pg_xact_commit_timestamp(xmin)' if tracked else 'created_at'} "
                                "FROM do_not_call WHERE phone = $1", late)
    after, before = entered + timedelta(seconds=5), entered - timedelta(seconds=5)
    tasks = [_task(1, late, after), _task(2, early, before), _task(3, free, after)]
    rung = (entered + timedelta(seconds=8)).astimezone(UTC).isoformat()
    state = {"tasks": tasks,
             "calls": [{"callId": "c-2", "taskId": "t-x-2", "startedAt": rung, "status": "ENDED"}],
             "addRequests": [{"headers": {"Idempotency-Key": t["idempotencyKey"]},
                              "at": (entered + timedelta(seconds=6)).timestamp()} for t in tasks]}
    result = await _no_dial_to_dnc(db, state)
    assert result.violations == 1 and result.checked == 2
    assert result.examples[0].startswith(f"{late}: handed over 5.0")
    assert "received by the provider after it 1, rung after it 1" in result.note
    assert datetime.now(UTC) > entered
