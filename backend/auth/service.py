"""Login, token authentication and session revocation."""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import msgspec

from backend.auth import queries, tokens
from backend.auth.hooks import SessionHooks
from backend.auth.passwords import PasswordService
from backend.auth.throttle import LoginThrottle
from backend.core.errors import Forbidden, Unauthorized
from backend.core.settings import Settings

log = logging.getLogger("backend.auth")

ROLES = ("operator", "supervisor", "analyst", "admin")


class Principal(msgspec.Struct, frozen=True):
    """The authenticated caller, as guards and handlers see it."""

    operator_id: int
    role: str
    session_id: uuid.UUID
    login: str
    first_name: str
    last_name: str
    idle_expires_at: datetime
    absolute_expires_at: datetime


@dataclass(frozen=True)
class LoginResult:
    token: str
    operator_id: int
    role: str
    idle_expires_at: datetime
    absolute_expires_at: datetime


class AuthService:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, passwords: PasswordService,
                 throttle: LoginThrottle, hooks: SessionHooks) -> None:
        self._pool = pool
        self._hooks = hooks
        self._settings = settings
        self._passwords = passwords
        self._throttle = throttle
        # Ordinary requests slide the idle expiry at most this often (a write per request is waste).
        self._slide_granularity = max(1, min(60, settings.session_idle_timeout // 10))

    async def login(self, login: str, password: str, *, client_addr: str, user_agent: str | None) -> LoginResult:
        await self._throttle.reserve(login, client_addr)  # counted before the password is checked
        try:
            row = await queries.credentials(self._pool, login)
            ok = await self._passwords.verify(row["password_hash"] if row else None, password)
        except Exception:
            # No verdict (PostgreSQL down, say): give the reservation back, or an outage would count as failed
            # guesses and lock operators out with the right password (the fault suite's finding).
            with contextlib.suppress(Exception):
                await self._throttle.undecided(login, client_addr)
            raise
        if not ok or row is None:
            log.info("login failed from %s", client_addr)
            raise Unauthorized("Wrong login or password", code="INVALID_CREDENTIALS")
        if row["locked"]:
            raise Forbidden("This account is locked; contact your supervisor", code="ACCOUNT_LOCKED")
        await self._throttle.succeeded(login, client_addr)
        if self._passwords.needs_rehash(row["password_hash"]):
            new_hash = await self._passwords.hash(password)
            await queries.set_password_hash(self._pool, row["id"], new_hash)
        session_id = uuid.uuid4()
        times = await queries.insert_session(
            self._pool, session_id=session_id, operator_id=row["id"],
            idle_seconds=self._settings.session_idle_timeout,
            absolute_seconds=self._settings.session_absolute_timeout,
            client_addr=client_addr, user_agent=user_agent,
        )
        await self._hooks.session_opened(row["id"], row["role"])
        token = tokens.issue(self._settings, operator_id=row["id"], session_id=session_id, role=row["role"],
                             issued_at=times["created_at"], expires_at=times["absolute_expires_at"])
        log.info("operator %s logged in (session %s)", row["id"], str(session_id)[:8])
        return LoginResult(token, row["id"], row["role"], times["idle_expires_at"], times["absolute_expires_at"])

    async def authenticate(self, token: str, *, force_slide: bool = False, slide: bool = True) -> Principal | None:
        """The principal behind a token, or None if the token is bad or its session is over."""
        try:
            claims = tokens.decode(self._settings, token)
        except tokens.InvalidToken:
            return None
        row = await queries.authenticate(
            self._pool, claims.session_id, idle_seconds=self._settings.session_idle_timeout,
            granularity=0 if force_slide else self._slide_granularity, slide=slide or force_slide,
        )
        if row is None or row["operator_id"] != claims.operator_id:
            return None
        return Principal(
            operator_id=row["operator_id"], role=row["role"], session_id=row["id"], login=row["login"],
            first_name=row["first_name"], last_name=row["last_name"],
            idle_expires_at=row["idle_until"], absolute_expires_at=row["absolute_expires_at"],
        )

    async def logout_token(self, token: str) -> bool:
        """Revoke the session a token names. A well-signed token whose session already ended is fine
        (logout is idempotent); a forged or foreign token is refused."""
        try:
            claims = tokens.decode(self._settings, token, verify_exp=False)
        except tokens.InvalidToken:
            raise Unauthorized("Token is not valid", code="INVALID_TOKEN", field="token") from None
        return await self.revoke_session(claims.session_id, "LOGOUT")

    async def revoke_session(self, session_id: uuid.UUID, reason: str) -> bool:
        row = await queries.revoke_session(self._pool, session_id, reason)
        if row is not None:
            log.info("session %s of operator %s revoked: %s", str(session_id)[:8], row["operator_id"], reason)
            await self._hooks.sessions_ended(row["operator_id"], [session_id], reason)
        return row is not None
