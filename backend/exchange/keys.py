"""Integration API keys: ``<keyId>.<secret>``, the secret 32 random bytes; only sha256(secret) is stored.

A fast hash is right here (unlike passwords): the secret has 256 bits of entropy, so nothing can be guessed
from its hash, and each request is checked in microseconds instead of argon2's tens of milliseconds."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_KEY = re.compile(r"^(ik_[0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")


def new_key() -> tuple[str, str, bytes]:
    """(key id, the API key to show once, the hash to store)."""
    key_id = "ik_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{key_id}.{secret}", digest(secret)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse(api_key: str | None) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    if not api_key:
        return None
    match = _KEY.match(api_key.strip())
    return (match.group(1), match.group(2)) if match else None


def matches(secret: str, stored: bytes) -> bool:
    return hmac.compare_digest(digest(secret), stored)


def new_signing_secret() -> str:
    return secrets.token_urlsafe(32)
