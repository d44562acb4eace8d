"""HMAC-SHA256 request signatures of the push-style telephony service, checked without I/O.

The sender computes ``hex(hmac_sha256(secret, f"{timestamp}.".encode() + body))`` and sends it as
``X-Telephony-Signature: sha256=<hex>`` with ``X-Telephony-Timestamp: <unix seconds>``. A timestamp
outside the tolerance is refused, so a captured request cannot be replayed later; within the window a
replay is harmless because events are idempotent by id.
"""

from __future__ import annotations

import hashlib
import hmac


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp_header: str | None, signature_header: str | None, body: bytes, *,
           now: float, tolerance: int) -> None:
    if not timestamp_header or not signature_header:
        raise SignatureError("SIGNATURE_MISSING", "X-Telephony-Timestamp and X-Telephony-Signature are required")
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        raise SignatureError("SIGNATURE_INVALID", "X-Telephony-Timestamp must be unix seconds") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError("SIGNATURE_EXPIRED", "Request timestamp is outside the replay window")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature_header.strip()):
        raise SignatureError("SIGNATURE_INVALID", "Signature does not match")
