"""HMAC-SHA256 signatures of the exchange, the same scheme as our telephony webhook (backend/calls/signature.py):
``X-Exchange-Signature: sha256=<hex(hmac_sha256(secret, f"{timestamp}." + body))>`` with
``X-Exchange-Timestamp: <unix seconds>``. Pushes are signed with the client's signing secret; a client may
sign its requests the same way (required when its requireSignedRequests is on). No I/O here."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP = "X-Exchange-Timestamp"
SIGNATURE = "X-Exchange-Signature"
DELIVERY_ID = "X-Exchange-Delivery-Id"
ATTEMPT = "X-Exchange-Attempt"


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP: str(timestamp), SIGNATURE: sign(secret, timestamp, body)}


def verify(secret: str, timestamp_header: str | None, signature_header: str | None, body: bytes, *,
           now: float, tolerance: int) -> None:
    if not timestamp_header or not signature_header:
        raise SignatureError("SIGNATURE_MISSING", f"{TIMESTAMP} and {SIGNATURE} are required")
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        raise SignatureError("SIGNATURE_INVALID", f"{TIMESTAMP} must be unix seconds") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError("SIGNATURE_EXPIRED", "Request timestamp is outside the replay window")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature_header.strip()):
        raise SignatureError("SIGNATURE_INVALID", "Signature does not match")
