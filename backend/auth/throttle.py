"""Failed-login throttling shared by every process through Redis.

Three fixed-window counters, checked and counted *before* the password is verified, in one Redis script,
so the limits hold however many attempts race (60 parallel guesses get at most the limit through):

* per (login, address) — `LOGIN_MAX_FAILURES_PER_LOGIN`: guessing one account's password from one place
  slows to a stop there, but an attacker elsewhere cannot lock an operator out of their own office;
* per login, from anywhere — `LOGIN_MAX_FAILURES_PER_ACCOUNT`, a higher ceiling against guessing spread
  over many addresses;
* per address — `LOGIN_MAX_FAILURES_PER_ADDRESS`, against spraying many accounts (a call centre puts many
  operators behind one address, so it is high).

An attempt reserves one count on each; a correct password gives the reservations back (and clears the
(login, address) counter). A throttled attempt is refused before its password is looked at, so it learns
nothing, and the answer is the same whether the login exists or not.
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis.asyncio as aioredis

from backend.core.errors import TooManyRequests
from backend.core.settings import Settings

# KEYS: pair, account, address. ARGV: their limits, then the window in seconds.
# Returns {0, 0} when the attempt may go on (and counts it), else {which key blocked, its seconds left}.
_RESERVE = """
for i = 1, 3 do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[i]) then
    return {i, redis.call('TTL', KEYS[i])}
  end
end
for i = 1, 3 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[4]) end
end
return {0, 0}
"""
# A correct password: the pair's counter is cleared, the account's and the address's reservations returned.
_REFUND = """
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""
# The attempt never reached a verdict (the database or the hash pool failed): its reservations go back on all
# three counters, and the pair's earlier failures stay counted.
_RELEASE = """
for i = 1, 3 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""
_MESSAGES = {1: "Too many failed logins for this account from this address; try again later",
             2: "Too many failed logins for this account; try again later",
             3: "Too many failed logins from this address; try again later"}


class LoginThrottle:
    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self._redis = redis
        self._window = settings.login_throttle_window
        self._limits = (settings.login_max_failures_per_login, settings.login_max_failures_per_account,
                        settings.login_max_failures_per_address)
        self._prefix = settings.redis_key_prefix + "login-fail:"
        self._reserve: Any = redis.register_script(_RESERVE)
        self._refund: Any = redis.register_script(_REFUND)
        self._release: Any = redis.register_script(_RELEASE)

    def _keys(self, login: str, address: str) -> list[str]:
        digest = hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]
        return [f"{self._prefix}pair:{digest}:{address}", f"{self._prefix}login:{digest}",
                f"{self._prefix}addr:{address}"]

    async def reserve(self, login: str, address: str) -> None:
        """Count this attempt, or raise 429 if any counter is at its limit (one round trip, atomic)."""
        which, ttl = await self._reserve(keys=self._keys(login, address), args=[*self._limits, self._window])
        if int(which):
            raise TooManyRequests(_MESSAGES[int(which)], retry_after=_ttl(ttl, self._window),
                                  code="LOGIN_THROTTLED")

    async def succeeded(self, login: str, address: str) -> None:
        await self._refund(keys=self._keys(login, address), args=[])

    async def undecided(self, login: str, address: str) -> None:
        """The attempt failed before its password was judged (an outage): not a failed guess."""
        await self._release(keys=self._keys(login, address), args=[])


def _ttl(value: Any, window: int) -> int:
    return int(value) if value and int(value) > 0 else window
