"""What the parts of the telephony process share: connections, the provider, the operators it serves."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis

from backend.core.settings import Settings
from telephony.metrics import Metrics
from telephony.parsing import Rejected
from telephony.provider import Provider


@dataclass
class Active:
    """An operator with a provider session: where polling resumes, what availability was last sent."""

    operator_id: int
    session_id: str
    cursor: int
    reported: str | None = None
    garbage_seen: list[bytes] = field(default_factory=list)  # digests of id-less bad events already recorded

    def unseen_rejects(self, rejected: list[Rejected]) -> list[Rejected]:
        """Bad events past the cursor, each once: one without an id cannot be passed by the cursor, and a
        provider may list it again and again — it is dead-lettered the first time only."""
        out = []
        for r in rejected:
            if r.id is not None:
                if r.id > self.cursor:
                    out.append(r)
                continue
            digest = hashlib.sha256(r.raw).digest()
            if digest not in self.garbage_seen:
                self.garbage_seen = [*self.garbage_seen[-99:], digest]
                out.append(r)
        return out


@dataclass
class Context:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    settings: Settings
    provider: Provider
    active: dict[int, Active] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # session open/close/reconcile one at a time
    metrics: Metrics = field(default_factory=Metrics)
