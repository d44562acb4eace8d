"""Failed-login throttling shared by every process through Redis.

Two fixed-window counters: per login name (guessing one account's password) and per client address
(spraying many accounts). A call-centre puts many operators behind one address, so the per-address
limit is much higher. Attempts are refused *before* the password is checked, so a throttled attacker
learns nothing, and the answer is the same whether the login exists or not.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from backend.core.errors import TooManyRequests
from backend.core.settings import Settings


class LoginThrottle:
    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self._redis = redis
        self._window = settings.login_throttle_window
        self._max_login = settings.login_max_failures_per_login
        self._max_addr = settings.login_max_failures_per_address
        self._prefix = settings.redis_key_prefix + "login-fail:"

    def _keys(self, login: str, address: str) -> tuple[str, str]:
        digest = hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]
        return self._prefix + "login:" + digest, self._prefix + "addr:" + address

    async def check(self, login: str, address: str) -> None:
        """Raise 429 if either counter is at its limit (one round trip)."""
        login_key, addr_key = self._keys(login, address)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in (login_key, addr_key):
                pipe.get(key)
                pipe.ttl(key)
            login_count, login_ttl, addr_count, addr_ttl = await pipe.execute()
        if login_count is not None and int(login_count) >= self._max_login:
            raise TooManyRequests("Too many failed logins for this account; try again later",
                                  retry_after=_ttl(login_ttl, self._window), code="LOGIN_THROTTLED")
        if addr_count is not None and int(addr_count) >= self._max_addr:
            raise TooManyRequests("Too many failed logins from this address; try again later",
                                  retry_after=_ttl(addr_ttl, self._window), code="LOGIN_THROTTLED")

    async def record_failure(self, login: str, address: str) -> None:
        login_key, addr_key = self._keys(login, address)
        async with self._redis.pipeline(transaction=True) as pipe:
            # SET NX EX then INCR: the window starts at the first failure (EXPIRE NX needs Redis 7).
            for key in (login_key, addr_key):
                pipe.set(key, 0, ex=self._window, nx=True)
                pipe.incr(key)
            await pipe.execute()

    async def record_success(self, login: str, address: str) -> None:
        """A correct password clears the account's counter, not the address's."""
        login_key, _ = self._keys(login, address)
        await self._redis.delete(login_key)


def _ttl(value: int, window: int) -> int:
    return int(value) if value and int(value) > 0 else window
