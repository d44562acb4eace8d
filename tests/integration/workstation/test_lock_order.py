"""A result being saved must not block the call path working on the same operator. The save holds its
communication; a call-event transaction that touches the operator's state row twice (the next seq, then the
state) re-checks the state row's foreign key to that communication (PostgreSQL re-checks it when the row was
already changed in the same transaction) with FOR KEY SHARE. Had the save locked the communication FOR
UPDATE, the two would wait on each other: the fault suite saw PostgreSQL break such deadlocks and the save
answered 500. FOR NO KEY UPDATE (the save never changes the key) lets the check through."""

from __future__ import annotations

from backend.events import queries as events
from backend.workstation import queries
from tests.conftest import login
from tests.harness import unique
from tests.integration.workstation.helpers import event, push, seed_task


async def test_a_save_holding_the_communication_does_not_block_the_call_path(http, web, db, make_user):
    op = await make_user("operator")
    await login(http, web[0], op)
    task = await seed_task(db)
    started = await push(http, web[0], event("CALL_STARTED", op.id, task, unique("call-")))
    comm_id = started.json()["data"]["communicationId"]
    assert await db.fetchval("SELECT communication_id FROM operator_states WHERE operator_id = $1", op.id) == comm_id

    async with db.acquire() as saving, db.acquire() as call_path:
        save = saving.transaction()
        await save.start()
        other = call_path.transaction()
        await other.start()
        try:
            assert await queries.lock_communication(saving, comm_id, op.id) is not None  # what a save holds
            await call_path.execute("SET LOCAL lock_timeout = '3s'")
            first = await events.append(call_path, op.id, "TEST_EVENT", "{}")
            second = await events.append(call_path, op.id, "TEST_EVENT", "{}")  # re-checks the foreign key
            assert second == first + 1
        finally:
            await other.rollback()
            await save.rollback()
