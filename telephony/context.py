"""What the parts of the telephony process share: connections, the provider, the operators it serves."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis

from backend.core.settings import Settings
from telephony.metrics import Metrics
from telephony.provider import Provider


@dataclass
class Active:
    """An operator with a provider session: where polling resumes, what availability was last sent."""

    operator_id: int
    session_id: str
    cursor: int
    reported: str | None = None
    # Id-less garbage the provider lists after the cursor stays listed (the cursor cannot move past what has
    # no id) until a later event comes: those of the last page, already dead-lettered, are not set aside again.
    idless_seen: frozenset[bytes] = frozenset()


@dataclass
class Context:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    settings: Settings
    provider: Provider
    active: dict[int, Active] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # session open/close/reconcile one at a time
    metrics: Metrics = field(default_factory=Metrics)
