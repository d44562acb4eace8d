"""Access tokens: HS256 JWTs whose ``jti`` names a server-side session row.

The signature and claims are checked here without I/O; whether the session is still alive is the
session store's business (``service.authenticate``)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import jwt

from backend.core.settings import Settings

ALGORITHMS = ["HS256"]  # allow-list: "none" and asymmetric confusion are refused by pyjwt
_REQUIRED = ["exp", "iat", "sub", "jti", "iss", "aud", "role"]


@dataclass(frozen=True)
class TokenClaims:
    operator_id: int
    session_id: uuid.UUID
    role: str


class InvalidToken(Exception):
    pass


def issue(settings: Settings, *, operator_id: int, session_id: uuid.UUID, role: str,
          issued_at: datetime, expires_at: datetime) -> str:
    payload = {
        "sub": str(operator_id),
        "jti": str(session_id),
        "role": role,
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(payload, settings.jwt_secret, algorithm=ALGORITHMS[0])


# Tokens already verified, with their expiry: an operator's page sends the same token with every request,
# and pyjwt's checks cost 15 % of a web process's CPU under saves (issue 16). Only a token whose signature
# and claims were verified under these very settings is here; its expiry is checked again on every use.
_LEEWAY = 5
_CACHE_LIMIT = 20_000
_verified: dict[tuple[str, str, str, str], tuple[TokenClaims, float]] = {}


def decode(settings: Settings, token: str, *, verify_exp: bool = True) -> TokenClaims:
    key = (token, settings.jwt_secret, settings.jwt_audience, settings.jwt_issuer)
    hit = _verified.get(key)
    if hit is not None and (not verify_exp or time.time() < hit[1] + _LEEWAY):
        return hit[0]
    claims, expires = _decode(settings, token, verify_exp=verify_exp)
    if verify_exp:
        if len(_verified) >= _CACHE_LIMIT:
            _verified.clear()
        _verified[key] = (claims, expires)
    return claims


def _decode(settings: Settings, token: str, *, verify_exp: bool) -> tuple[TokenClaims, float]:
    try:
        payload = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": _REQUIRED, "verify_exp": verify_exp},
            leeway=_LEEWAY,
        )
        return (TokenClaims(operator_id=int(payload["sub"]), session_id=uuid.UUID(str(payload["jti"])),
                            role=str(payload["role"])), float(payload["exp"]))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(type(exc).__name__) from None
