"""What the cascade hands its passing leads to. The campaigns domain (a layer above) implements it; the
process wiring (backend/worker.py) passes the implementation in, so rules never imports campaigns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from backend.core.db import Conn


@dataclass(frozen=True)
class Entry:
    """One client entering a campaign: its task starts NEW at ``task_time`` (already inside calling hours)."""

    phone: str
    client_info: dict[str, Any]
    task_time: datetime
    application_no: int | None = None


@dataclass(frozen=True)
class Prepared:
    """Entries encoded by the sink ahead of the transaction that enters them (pure CPU work the cascade does
    while an earlier batch is being written): the phones, in the order of the entries, and the sink's own
    encoding of the rest."""

    campaign_id: int
    phones: list[str]
    payload: Any


class TaskSink(Protocol):
    def prepare(self, campaign_id: int, entries: list[Entry], *, rules_version_id: int | None,
                priority: int) -> Prepared:
        """Encode ``entries`` for ``enter`` (no I/O)."""
        ...

    async def enter(self, conn: Conn, prepared: Prepared) -> tuple[list[int], list[dict[str, Any]]]:
        """Inside the caller's transaction: enter every client (re-entry cancels the client's open task in the
        campaign, as enter_campaign does); the new task ids in the order of the entries, and the telephony
        commands (DELETEs of cancelled handed-over tasks) to send once the transaction commits."""
        ...

    async def enter_many(self, conn: Conn, campaign_id: int, entries: list[Entry], *, rules_version_id: int | None,
                         priority: int) -> tuple[list[int], list[dict[str, Any]]]:
        """``prepare`` and ``enter`` in one call."""
        ...

    async def send(self, commands: list[dict[str, Any]]) -> None:
        """Send telephony commands (after commit; the outbox resends a lost one)."""
        ...
