"""Access tokens: HS256 JWTs whose ``jti`` names a server-side session row.

The signature and claims are checked here without I/O; whether the session is still alive is the
session store's business (``service.authenticate``)."""

from __future__ import annotations

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


def decode(settings: Settings, token: str, *, verify_exp: bool = True) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": _REQUIRED, "verify_exp": verify_exp},
            leeway=5,
        )
        return TokenClaims(operator_id=int(payload["sub"]), session_id=uuid.UUID(str(payload["jti"])),
                           role=str(payload["role"]))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(type(exc).__name__) from None
