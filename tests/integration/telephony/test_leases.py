"""Issue 18: the fencing of operator leases, at the level of its writes (real PostgreSQL and Redis): a token
only goes up, a write under an older one changes nothing, and a lease taken while a write is in flight waits
for it — never both."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from telephony import queries
from telephony.leases import APPEND
from tests.harness import unique


async def test_a_write_under_an_older_token_is_refused_and_changes_nothing(db, make_user):
    op = (await make_user()).id
    first = (await queries.take_tokens(db, [op], "a"))[op]
    assert await queries.save_session(db, op, first, "s-1")
    second = (await queries.take_tokens(db, [op], "b"))[op]
    assert second == first + 1  # a new holder, a higher token

    async with db.acquire() as conn, conn.transaction():
        assert not await queries.save_cursor(conn, op, first, "s-1", 42, [])
    assert not await queries.save_session(db, op, first, "s-zombie")
    assert not await queries.forget_session(db, op, first)
    row = await db.fetchrow("SELECT provider_session_id, event_cursor, lease_token FROM telephony_active_sessions "
                            "WHERE operator_id = $1", op)
    assert (row["provider_session_id"], row["event_cursor"], row["lease_token"]) == ("s-1", "0", first)

    async with db.acquire() as conn, conn.transaction():
        assert await queries.save_cursor(conn, op, second, "s-1", 42, [])
    row = await db.fetchrow(
        "SELECT event_cursor, lease_token FROM telephony_active_sessions WHERE operator_id = $1", op)
    assert (row["event_cursor"], row["lease_token"]) == ("42", second)
    assert await queries.forget_session(db, op, second)
    # The counter outlives the session row: after a logout, a login's lease still gets a higher token.
    assert (await queries.take_tokens(db, [op], "c"))[op] == second + 1


async def test_a_lease_taken_during_a_write_waits_for_it_and_refuses_the_next(db, make_user):
    op = (await make_user()).id
    old = (await queries.take_tokens(db, [op], "a"))[op]
    assert await queries.save_session(db, op, old, "s-1")
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        assert await queries.save_cursor(conn, op, old, "s-1", 7, [])  # holds the lease row FOR SHARE
        taking = asyncio.create_task(queries.take_tokens(db, [op], "b"))
        await asyncio.sleep(0.3)
        assert not taking.done()  # the new holder waits for the write in flight
        await tx.commit()
    new = (await taking)[op]
    async with db.acquire() as conn, conn.transaction():
        assert not await queries.save_cursor(conn, op, old, "s-1", 9, [])
    assert await db.fetchval("SELECT event_cursor FROM telephony_active_sessions WHERE operator_id = $1", op) == "7"
    assert new == old + 1


async def test_events_are_appended_only_while_the_lease_names_the_process(services):
    redis = aioredis.Redis.from_url(services.redis_url)
    prefix = unique("tmlease:") + ":"
    lease, stream = prefix + "telephony:lease:1", prefix + "call-events"
    try:
        assert int(await redis.eval(APPEND, 2, lease, stream, "me", b'{"eventId":"e1"}')) == -1  # nobody's
        await redis.set(lease, "other", px=5000)
        assert int(await redis.eval(APPEND, 2, lease, stream, "me", b'{"eventId":"e1"}')) == -1  # another's
        assert await redis.xlen(stream) == 0
        await redis.set(lease, "me", px=5000)
        assert int(await redis.eval(APPEND, 2, lease, stream, "me", b'{"eventId":"e1"}', b'{"eventId":"e2"}')) == 2
        entries = await redis.xrange(stream)
        assert [(f[b"event"], f[b"by"]) for _, f in entries] == [(b'{"eventId":"e1"}', b"me"),
                                                                 (b'{"eventId":"e2"}', b"me")]
    finally:
        await redis.delete(lease, stream)
        await redis.aclose()
