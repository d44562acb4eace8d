from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from backend.auth import tokens
from backend.core.settings import Settings

SETTINGS = Settings.from_env({"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "JWT_SECRET": "s" * 64})


def _issue(**overrides):
    now = datetime.now(UTC)
    return tokens.issue(SETTINGS, operator_id=7, session_id=overrides.pop("sid", uuid.uuid4()), role="operator",
                        issued_at=now, expires_at=overrides.pop("exp", now + timedelta(hours=1)))


def test_round_trip():
    sid = uuid.uuid4()
    claims = tokens.decode(SETTINGS, _issue(sid=sid))
    assert claims == tokens.TokenClaims(operator_id=7, session_id=sid, role="operator")


def test_expired_refused_unless_asked():
    token = _issue(exp=datetime.now(UTC) - timedelta(minutes=5))
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(SETTINGS, token)
    assert tokens.decode(SETTINGS, token, verify_exp=False).operator_id == 7


@pytest.mark.parametrize("mutate", [
    lambda c: {**c, "aud": "other"},
    lambda c: {**c, "iss": "someone-else"},
    lambda c: {k: v for k, v in c.items() if k != "jti"},
    lambda c: {**c, "jti": "not-a-uuid"},
])
def test_wrong_claims_refused(mutate):
    claims = jwt.decode(_issue(), options={"verify_signature": False})
    forged = jwt.encode(mutate(claims), SETTINGS.jwt_secret, algorithm="HS256")
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(SETTINGS, forged)


def test_algorithm_allow_list():
    claims = jwt.decode(_issue(), options={"verify_signature": False})
    for token in (jwt.encode(claims, SETTINGS.jwt_secret, algorithm="HS512"),
                  jwt.encode(claims, None, algorithm="none")):
        with pytest.raises(tokens.InvalidToken):
            tokens.decode(SETTINGS, token)
