"""argon2id hashing off the event loop, with a concurrency cap.

Each hash costs ~19 MiB and one core for tens of milliseconds; running it on the event loop would stall
every other request of the process, and running unbounded many at once would exhaust memory under a
login storm. A small dedicated executor does both: off-loop and capped.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

MIN_PASSWORD_LENGTH = 8


class PasswordService:
    def __init__(self, concurrency: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        # Verified against when a login does not exist, so that both cases cost the same time.
        self._dummy_hash = HASHER.hash("dummy password for timing equalisation")

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, HASHER.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _verify, stored_hash or self._dummy_hash, password,
                                          stored_hash is not None)

    @staticmethod
    def needs_rehash(stored_hash: str) -> bool:
        try:
            return HASHER.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _verify(stored_hash: str, password: str, real: bool) -> bool:
    try:
        ok = HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and real


def hash_sync(password: str) -> str:
    """For the CLI, which has no event loop to protect."""
    return HASHER.hash(password)
