"""What the parts of the telephony process share: connections, the provider, the operators it serves."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import uuid
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
    token: int  # the fencing token of our lease on this operator when the session was taken up
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
class Lease:
    """Our lease on one operator: its fencing token (``telephony_leases``) and, on the event loop's clock,
    until when it is surely still ours (renewal sent at t, TTL d: t + d; a pause past it means "not ours")."""

    token: int
    valid_until: float


class LeaseLost(Exception):
    """A write under an operator's lease was refused: another process holds it now (a newer token)."""


@dataclass
class Context:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    settings: Settings
    provider: Provider
    active: dict[int, Active] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # session open/close/reconcile one at a time
    metrics: Metrics = field(default_factory=Metrics)
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    leases: dict[int, Lease] = field(default_factory=dict)  # operators we hold, kept by telephony.leases

    def token(self, operator_id: int) -> int | None:
        """Our fencing token for the operator if the lease is ours right now, else None: checked right
        before anything is sent to the provider or written about the operator."""
        lease = self.leases.get(operator_id)
        if lease is None or asyncio.get_running_loop().time() >= lease.valid_until:
            return None
        return lease.token
