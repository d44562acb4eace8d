"""The audit log's one writer: every admin and supervisor action records who did what to what, from where, and
the target before and after — in the transaction of the action itself, so an action that fails (or rolls back)
leaves no row, and a row never names an action that did not happen. ``audit_log`` is append-only in PostgreSQL
(triggers refuse UPDATE, DELETE and TRUNCATE).

Any layer above ``auth`` may call it (features, rules, intake)::

    async with pool.acquire() as conn, conn.transaction():
        row = await queries.change_something(conn, ...)
        await audit.record(conn, actor=actor.operator_id, action="thing.change", target_type="thing",
                           target_id=row["id"], before=old, after=dict(row), ip=actor.ip)

or, with an :class:`Actor` taken from the request by :func:`actor_of`, ``await actor.record(conn, ...)``.
``action`` is ``<noun>.<verb>`` in lower case (``operator.lock``, ``team.create``, ``dnc.put``); ``target_type``
one lower-case word; ``before``/``after`` any JSON-able values (datetimes and UUIDs are turned into strings).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from litestar.connection import ASGIConnection

from backend.auth.client import client_address
from backend.core.db import Executor


def jsonable(value: Any) -> Any:
    """Records, datetimes, UUIDs and decimals as plain JSON values (what ``before``/``after`` hold)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "items"):  # asyncpg.Record
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


async def record(conn: Executor, *, actor: int | None, action: str, target_type: str, target_id: Any,
                 before: Any = None, after: Any = None, ip: str | None = None) -> int:
    """Append one row to ``audit_log`` through ``conn`` (call it inside the action's transaction); its id."""
    return int(await conn.fetchval(
        """INSERT INTO audit_log (actor_id, actor_login, action, target_type, target_id, client_addr, before, after)
           VALUES ($1, (SELECT login FROM operators WHERE id = $1), $2, $3, $4, $5, $6, $7) RETURNING id""",
        actor, action, target_type, None if target_id is None else str(target_id), ip,
        jsonable(before), jsonable(after)))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts and from where: the logged-in operator and the client address (None/None for the CLI)."""

    operator_id: int | None
    ip: str | None = None

    async def record(self, conn: Executor, action: str, target_type: str, target_id: Any,
                     before: Any = None, after: Any = None) -> int:
        return await record(conn, actor=self.operator_id, action=action, target_type=target_type,
                            target_id=target_id, before=before, after=after, ip=self.ip)


SYSTEM = Actor(None, None)


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The request's actor: its principal, and its address under the app's TRUSTED_PROXIES policy."""
    user = connection.scope.get("user")
    operator_id = getattr(user, "operator_id", None)
    ip = client_address(connection, connection.app.state.settings.trusted_proxies)
    return Actor(operator_id if isinstance(operator_id, int) else None, ip)
