"""SQL of call intake: the dead-letter record shared by intake and the telephony process."""

from __future__ import annotations

from typing import Literal

from backend.core.db import Executor

Source = Literal["provider-event", "call-event", "command"]


async def dead_letter(db: Executor, source: Source, reason: str, payload: bytes | str) -> None:
    """Keep what could not be applied, with why; never raises on odd bytes (NUL is not storable in text)."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    await db.execute("INSERT INTO dead_letters (source, reason, payload) VALUES ($1, $2, $3)",
                     source, reason[:1000], text.replace("\x00", "\\u0000")[:100_000])


async def prune_dead_letters(db: Executor, days: int, batch: int) -> int:
    """One batch of dead letters older than the retention (dead_letters_created_idx)."""
    result = await db.execute(
        """DELETE FROM dead_letters WHERE id IN (
               SELECT id FROM dead_letters WHERE created_at < now() - make_interval(days => $1) LIMIT $2)""",
        days, batch)
    return int(result.split()[-1])
