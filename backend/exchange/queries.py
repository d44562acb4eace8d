"""The exchange's SQL: named queries with bound parameters; each hot query names the index it uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from backend.core.db import Conn, Executor
from backend.rules import queries as rules_queries

# -- authentication (every integration request) ------------------------------------------------------------


async def key_principal(db: Executor, key_id: str) -> asyncpg.Record | None:
    """The key and its client in one probe (exchange_keys_pkey, then exchange_clients_pkey)."""
    return await db.fetchrow(
        """SELECT k.id AS key_id, k.secret_hash, k.revoked_at, c.id AS client_id, c.active, c.name,
                  c.require_signed_requests, c.signing_secret, coalesce(k.campaign_id, c.campaign_id) AS campaign_id,
                  c.task_validity_hours
             FROM exchange_keys k JOIN exchange_clients c ON c.id = k.client_id
            WHERE k.id = $1""", key_id)


# -- requests ------------------------------------------------------------------------------------------------


async def stored_request(db: Executor, client_id: int, request_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(  # exchange_requests_pkey
        "SELECT body_hash, response FROM exchange_requests WHERE client_id = $1 AND request_id = $2",
        client_id, request_id)


_BAR = rules_queries.bar_reason("f.phone", "$3")


async def prelude(db: Executor, client_id: int, request_id: str, campaign_id: int | None,
                  ids: list[tuple[str, str]], phone: str | None) -> asyncpg.Record:
    """Everything a request is decided from, in one round trip: the stored request under this id (a repeat;
    exchange_requests_pkey), whether the campaign exists and its rules in force (campaigns_pkey, then
    campaign_rule_versions' (campaign_id, version) key backwards), the phone an earlier request gave for one
    of ``ids`` (one probe of exchange_known_clients_pkey per id; pass none when the request carries a phone)
    and whether that phone (``phone``, else the known one) may not be called (rules.queries.bar_reason: one
    probe each of do_not_call_pkey and bookings_pkey). A repeat reads only its stored request. A request
    that will make a task gets its id here (``task_id``, from campaign_tasks_id_seq), so that its response can
    be written with it by ``claim``.

    Every lookup is a probe by a full key whatever the statistics (planned over a near-empty
    exchange_known_clients, the known-phone join used to scan all the client's known ids), and the plan is
    planned once per connection: ``unnest($4)`` was estimated at the array's length in a custom plan but ten
    rows in the generic one, so PostgreSQL judged the generic plan dearer and planned the statement again on
    every request (0.47 ms of planning for 0.05 ms of execution); generate_subscripts is estimated alike in
    both."""
    row = await db.fetchrow(
        f"""SELECT r.body_hash, r.response, c.id IS NOT NULL AS campaign_exists, v.id AS version_id, v.config,
                   k.phone AS known_phone, b.reason AS bar,
                   CASE WHEN r.request_id IS NULL AND c.id IS NOT NULL AND f.phone IS NOT NULL AND b.reason IS NULL
                        THEN nextval('campaign_tasks_id_seq') END AS task_id
              FROM (SELECT 1) AS one
              LEFT JOIN exchange_requests r ON r.client_id = $1 AND r.request_id = $2
              LEFT JOIN campaigns c ON c.id = $3 AND r.request_id IS NULL
              LEFT JOIN LATERAL (SELECT id, config FROM campaign_rule_versions WHERE campaign_id = c.id
                                  ORDER BY version DESC LIMIT 1) v ON true
              LEFT JOIN LATERAL (SELECT known.phone
                                   FROM generate_subscripts($4::text[], 1) AS n
                                  CROSS JOIN LATERAL (SELECT phone, updated_at FROM exchange_known_clients
                                                       WHERE client_id = $1 AND system_code = ($4::text[])[n]
                                                         AND external_id = ($5::text[])[n] LIMIT 1) known
                                  WHERE r.request_id IS NULL
                                  ORDER BY known.updated_at DESC LIMIT 1) k ON true
              LEFT JOIN LATERAL (SELECT coalesce($6::text, k.phone) AS phone) f ON true
              LEFT JOIN LATERAL (SELECT {_BAR} AS reason
                                  WHERE r.request_id IS NULL AND c.id IS NOT NULL AND f.phone IS NOT NULL) b
                     ON true""",  # noqa: S608 - a constant expression
        client_id, request_id, campaign_id, [s for s, _ in ids], [i for _, i in ids], phone)
    assert row is not None
    return row


@dataclass(frozen=True)
class TaskEntry:
    """The task a claimed request enters (campaign_enter_one's arguments; the id from ``prelude``)."""

    task_id: int
    phone: str
    client_info: dict[str, Any]
    task_time: datetime
    rules_version_id: int | None
    priority: int


async def claim(db: Executor, client_id: int, request_id: str, *, body_hash: bytes, reply_id: str,
                request: Any, response: str, status_code: int, campaign_id: int | None, task: TaskEntry | None,
                expires_at: datetime | None, known_ids: list[tuple[str, str]],
                phone: str | None) -> asyncpg.Record:
    """A request's whole write in one statement (its own transaction: no BEGIN/COMMIT round trips): it claims
    its requestID first (exchange_requests_pkey; a twin's claim not yet committed is waited for), and only
    a claim that took enters its task — campaign_enter_one, the campaigns' entry of one client (migration
    0024) — and remembers ``known_ids`` with ``phone`` (exchange_known_clients_pkey: a later request naming
    one of them needs no phone). ``claimed`` is false when a twin holds the requestID (nothing was written);
    ``delete_ids``/``deleted_tasks``: telephony DELETEs to send after it (a re-entered handed-over task).
    The request's foreign key to its task is checked at the statement's end, after the entry."""
    row = await db.fetchrow(
        """WITH claimed AS (
               INSERT INTO exchange_requests (client_id, request_id, body_hash, reply_id, request, response,
                                              status_code, campaign_id, campaign_task_id, expires_at)
               VALUES ($1, $2, $3, $4::uuid, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (client_id, request_id) DO NOTHING RETURNING campaign_task_id),
           entered AS (
               SELECT e.delete_ids, e.deleted_tasks
                 FROM claimed c
                CROSS JOIN LATERAL campaign_enter_one(c.campaign_task_id, $8, $12, $14, $15, $16, $17, NULL) e
                WHERE c.campaign_task_id IS NOT NULL),
           known AS (
               INSERT INTO exchange_known_clients (client_id, system_code, external_id, phone)
               SELECT $1, x.s, x.i, $12 FROM claimed, unnest($11::text[], $13::text[]) AS x(s, i)
               ON CONFLICT (client_id, system_code, external_id)
               DO UPDATE SET phone = excluded.phone, updated_at = now())
           SELECT EXISTS (SELECT FROM claimed) AS claimed, (SELECT delete_ids FROM entered) AS delete_ids,
                  (SELECT deleted_tasks FROM entered) AS deleted_tasks""",
        client_id, request_id, body_hash, reply_id, request, response, status_code, campaign_id,
        task.task_id if task else None, expires_at, [s for s, _ in known_ids], phone, [i for _, i in known_ids],
        task.client_info if task else None, task.task_time if task else None,
        task.rules_version_id if task else None, task.priority if task else None)
    assert row is not None
    return row


async def campaign_exists(db: Executor, campaign_id: int) -> bool:
    return bool(await db.fetchval("SELECT true FROM campaigns WHERE id = $1", campaign_id))


async def request_state(db: Executor, client_id: int, request_id: str) -> asyncpg.Record | None:
    """What polling answers (exchange_requests_pkey, campaign_tasks_pkey, exchange_outbox's unique key)."""
    return await db.fetchrow(
        """SELECT r.response, t.task_state, o.body, o.state AS delivery
             FROM exchange_requests r
             LEFT JOIN campaign_tasks t ON t.id = r.campaign_task_id
             LEFT JOIN exchange_outbox o ON o.client_id = r.client_id AND o.request_id = r.request_id
            WHERE r.client_id = $1 AND r.request_id = $2 AND r.response IS NOT NULL""", client_id, request_id)


async def expire_open(conn: Conn, limit: int) -> int:
    """Tasks of requests past their validity that are waiting (NEW: not with telephony, not on a call) are
    closed EXPIRED; the outbox trigger writes their push in this transaction. A task handed to telephony is
    left to its call (or expires when it comes back NEW). exchange_requests_open_idx, SKIP LOCKED."""
    closed = await conn.fetch(
        """UPDATE campaign_tasks t SET task_state = 'DONE', close_reason = 'EXPIRED'
             FROM (SELECT t2.id FROM exchange_requests r JOIN campaign_tasks t2 ON t2.id = r.campaign_task_id
                    WHERE r.closed_at IS NULL AND r.campaign_task_id IS NOT NULL AND r.expires_at <= now()
                      AND t2.task_state = 'NEW'
                    ORDER BY r.expires_at LIMIT $1 FOR UPDATE OF t2 SKIP LOCKED) due
            WHERE t.id = due.id RETURNING t.id""", limit)
    return len(closed)


# -- the outbox ------------------------------------------------------------------------------------------------

_DELIVERY = """o.id, o.delivery_id::text AS delivery_id, o.client_id, o.request_id, o.campaign_task_id, o.state,
               o.attempts, o.last_status, o.last_error, o.created_at, o.next_attempt_at, o.delivered_at,
               o.failed_at, o.body"""


async def claim_due(db: Executor, owner: str, lease_seconds: float, limit: int) -> list[asyncpg.Record]:
    """Take due pending pushes under a lease: a worker's claim lasts ``lease_seconds``; a dead worker's claims
    are taken again after it (exchange_outbox_due_idx, SKIP LOCKED so workers share the rows)."""
    return await db.fetch(
        """UPDATE exchange_outbox o SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)
             FROM (SELECT id FROM exchange_outbox
                    WHERE state = 'PENDING' AND next_attempt_at <= now()
                      AND (lease_until IS NULL OR lease_until < now())
                    ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due,
                  exchange_clients c
            WHERE o.id = due.id AND c.id = o.client_id
        RETURNING o.id, o.delivery_id::text AS delivery_id, o.attempts, o.body, o.created_at, c.push_url,
                  c.signing_secret""",
        owner, lease_seconds, limit)


async def delivered(db: Executor, outbox_id: int, owner: str, status: int) -> bool:
    """Only while the claim is still ours (a worker paused past its lease records nothing)."""
    done = await db.fetchval(
        """UPDATE exchange_outbox SET state = 'DELIVERED', delivered_at = now(), attempts = attempts + 1,
                  last_status = $3, last_error = NULL, lease_owner = NULL, lease_until = NULL
            WHERE id = $1 AND lease_owner = $2 AND state = 'PENDING' RETURNING true""", outbox_id, owner, status)
    return bool(done)


async def failed_attempt(db: Executor, outbox_id: int, owner: str, status: int | None, error: str, delay: float,
                         max_age_seconds: int) -> str | None:
    """Another try after ``delay`` seconds, or FAILED once the push is older than the maximum age."""
    state: str | None = await db.fetchval(
        """UPDATE exchange_outbox
              SET attempts = attempts + 1, last_status = $3, last_error = $4, lease_owner = NULL, lease_until = NULL,
                  next_attempt_at = now() + make_interval(secs => $5),
                  state = CASE WHEN coalesce(resent_at, created_at) + make_interval(secs => $6) <= now()
                               THEN 'FAILED' ELSE 'PENDING' END,
                  failed_at = CASE WHEN coalesce(resent_at, created_at) + make_interval(secs => $6) <= now()
                                   THEN now() END
            WHERE id = $1 AND lease_owner = $2 AND state = 'PENDING' RETURNING state""",
        outbox_id, owner, status, error[:500], delay, max_age_seconds)
    return state


async def list_deliveries(db: Executor, state: str | None, client_id: int | None, *, limit: int,
                          offset: int) -> list[asyncpg.Record]:
    """FAILED: exchange_outbox_failed_idx (newest failure first); otherwise by id."""
    if state == "FAILED":
        return await db.fetch(
            f"""SELECT {_DELIVERY} FROM exchange_outbox o
                WHERE state = 'FAILED' AND ($1::bigint IS NULL OR client_id = $1)
                ORDER BY failed_at DESC LIMIT $2 OFFSET $3""", client_id, limit, offset)  # noqa: S608 - constant columns
    return await db.fetch(
        f"""SELECT {_DELIVERY} FROM exchange_outbox o WHERE ($1::text IS NULL OR state = $1)
               AND ($2::bigint IS NULL OR client_id = $2) ORDER BY id DESC LIMIT $3 OFFSET $4""",  # noqa: S608
        state, client_id, limit, offset)


async def get_delivery(db: Executor, outbox_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_DELIVERY} FROM exchange_outbox o WHERE id = $1", outbox_id)  # noqa: S608


async def resend(db: Executor, outbox_id: int) -> asyncpg.Record | None:
    """A FAILED (or DELIVERED) push goes out again at once, same delivery id (the receiver may dedupe), with
    a fresh maximum age. A PENDING one is already going; a SKIPPED one has nowhere to go."""
    return await db.fetchrow(
        f"""UPDATE exchange_outbox o SET state = 'PENDING', next_attempt_at = now(), failed_at = NULL,
                   resent_at = now(), lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND state IN ('FAILED', 'DELIVERED') RETURNING {_DELIVERY}""", outbox_id)  # noqa: S608


# -- admin: clients and keys ------------------------------------------------------------------------------------

_CLIENT = ("id, name, campaign_id, push_url, require_signed_requests, task_validity_hours, active, created_at, "
           "updated_at")


async def insert_client(db: Executor, *, name: str, campaign_id: int | None, push_url: str | None,
                        signing_secret: str, require_signed_requests: bool,
                        task_validity_hours: int) -> asyncpg.Record:
    row = await db.fetchrow(
        f"""INSERT INTO exchange_clients (name, campaign_id, push_url, signing_secret, require_signed_requests,
                                          task_validity_hours)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_CLIENT}""",  # noqa: S608
        name, campaign_id, push_url, signing_secret, require_signed_requests, task_validity_hours)
    assert row is not None
    return row


async def update_client(db: Executor, client_id: int, changes: dict[str, Any]) -> asyncpg.Record | None:
    """``changes`` maps column names (a fixed set, from ClientPatch) to new values."""
    allowed = {"name", "campaign_id", "push_url", "signing_secret", "require_signed_requests",
               "task_validity_hours", "active"}
    assert set(changes) <= allowed
    if not changes:
        return await get_client(db, client_id)
    sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(changes, start=2))
    return await db.fetchrow(
        f"UPDATE exchange_clients SET {sets} WHERE id = $1 RETURNING {_CLIENT}",  # noqa: S608 - fixed columns
        client_id, *changes.values())


async def get_client(db: Executor, client_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_CLIENT} FROM exchange_clients WHERE id = $1", client_id)  # noqa: S608


async def list_clients(db: Executor, *, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {_CLIENT} FROM exchange_clients ORDER BY id LIMIT $1 OFFSET $2",  # noqa: S608
                          limit, offset)


_KEY = "id AS key_id, client_id, campaign_id, label, created_at, revoked_at"


async def insert_key(db: Executor, key_id: str, client_id: int, secret_hash: bytes, campaign_id: int | None,
                     label: str | None, created_by: int | None) -> asyncpg.Record:
    row = await db.fetchrow(
        f"""INSERT INTO exchange_keys (id, client_id, secret_hash, campaign_id, label, created_by)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_KEY}""",  # noqa: S608
        key_id, client_id, secret_hash, campaign_id, label, created_by)
    assert row is not None
    return row


async def list_keys(db: Executor, client_id: int) -> list[asyncpg.Record]:
    return await db.fetch(  # exchange_keys_client_idx
        f"SELECT {_KEY} FROM exchange_keys WHERE client_id = $1 ORDER BY created_at", client_id)  # noqa: S608


async def revoke_key(db: Executor, client_id: int, key_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"""UPDATE exchange_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND client_id = $2
            RETURNING {_KEY}""", key_id, client_id)  # noqa: S608


async def lock_request_task(conn: Conn, client_id: int, request_id: str) -> asyncpg.Record | None:
    """The request (exchange_requests_pkey) and its task, locked (campaign_tasks_pkey); task columns are
    NULL when the request made none."""
    return await conn.fetchrow(
        """SELECT r.campaign_task_id, t.task_state, t.close_reason FROM exchange_requests r
             LEFT JOIN LATERAL (SELECT task_state, close_reason FROM campaign_tasks
                                 WHERE id = r.campaign_task_id FOR UPDATE) t ON true
            WHERE r.client_id = $1 AND r.request_id = $2 AND r.response IS NOT NULL""",
        client_id, request_id)


async def cancel_task(conn: Conn, task_id: int, handed_over: bool) -> int | None:
    """DONE, CANCELLED (the outbox trigger writes the push at commit); a task handed to telephony also gets a
    DELETE command row (the telephony outbox: resent until carried out). The DELETE's id, if any."""
    await conn.execute("UPDATE campaign_tasks SET task_state = 'DONE', close_reason = 'CANCELLED' WHERE id = $1",
                       task_id)
    if not handed_over:
        return None
    delete_id: int = await conn.fetchval(
        "INSERT INTO telephony_tasks (campaign_task_id, task_type) VALUES ($1, 'DELETE') RETURNING id", task_id)
    return delete_id
