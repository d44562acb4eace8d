"""A push receiver for the integration exchange (what an outside system runs to hear outcomes): records every
push, checks its signature, dedupes by delivery id, and can be told to fail.

  POST /exchange/{name}/push       a push (X-Exchange-Delivery-Id, X-Exchange-Timestamp, X-Exchange-Signature:
                                   sha256=hex(HMAC-SHA256(secret, timestamp + "." + body)))
        -> 200 {"status":"OK","duplicate":bool} | 401 {"code":"BAD_SIGNATURE"} | the injected failure
Control (tests, the bench, the run command's demo):
  POST /_exchange/{name}/config    {"secret": str, "mode": "ok"|"error"|"hang", "errorStatus": 500,
                                   "failNext": N} -> the receiver's config (fields given change)
  GET  /_exchange/{name}/pushes    -> {"pushes":[{"deliveryId","attempt","timestamp","signatureValid","status",
                                   "body","receivedAt"}], "accepted": [deliveryId, ...] (first 2xx of each)}
  POST /_exchange/{name}/reset     -> pushes forgotten, config back to ok (secret kept)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

_json = msgspec.json.Encoder()
HANG_SECONDS = 120.0
TOLERANCE = 300


@dataclass
class Inbox:
    secret: str = ""
    mode: str = "ok"  # ok | error | hang
    error_status: int = 500
    fail_next: int = 0
    pushes: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)

    def config(self) -> dict[str, Any]:
        return {"secret": bool(self.secret), "mode": self.mode, "errorStatus": self.error_status,
                "failNext": self.fail_next}


def signature_ok(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    timestamp, signature = headers.get("x-exchange-timestamp", ""), headers.get("x-exchange-signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class Receiver:
    def __init__(self) -> None:
        self.inboxes: dict[str, Inbox] = {}

    def inbox(self, name: str) -> Inbox:
        return self.inboxes.setdefault(name, Inbox())

    async def push(self, name: str, headers: dict[str, str], body: bytes,
                   until_disconnect: Any) -> tuple[int, bytes]:
        box = self.inbox(name)
        now = time.time()
        valid = signature_ok(box.secret, headers, body, now) if box.secret else None
        try:
            parsed = msgspec.json.decode(body)
        except msgspec.DecodeError:
            parsed = None
        record: dict[str, Any] = {"deliveryId": headers.get("x-exchange-delivery-id"),
                                  "attempt": headers.get("x-exchange-attempt"),
                                  "timestamp": headers.get("x-exchange-timestamp"), "signatureValid": valid,
                                  "status": None, "body": parsed, "receivedAt": now}
        box.pushes.append(record)
        if valid is False:
            record["status"] = 401
            return 401, b'{"code":"BAD_SIGNATURE"}'
        if box.mode == "hang":
            await until_disconnect(HANG_SECONDS)
            return 504, b'{"code":"HUNG"}'
        if box.fail_next > 0 or box.mode == "error":
            box.fail_next = max(0, box.fail_next - 1)
            record["status"] = box.error_status
            return box.error_status, b'{"code":"INJECTED"}'
        delivery = str(record["deliveryId"])
        duplicate = delivery in box.accepted
        if not duplicate:
            box.accepted.append(delivery)
        record["status"] = 200
        return 200, _json.encode({"status": "OK", "duplicate": duplicate})

    def control(self, method: str, name: str, action: str, body: Any) -> tuple[int, bytes]:
        box = self.inbox(name)
        if action == "pushes" and method == "GET":
            return 200, _json.encode({"pushes": box.pushes, "accepted": box.accepted})
        if method != "POST":
            return 404, b'{"code":"NOT_FOUND"}'
        if action == "reset":
            self.inboxes[name] = Inbox(secret=box.secret)
            return 200, _json.encode(self.inboxes[name].config())
        if action == "config" and isinstance(body, dict):
            if isinstance(body.get("secret"), str):
                box.secret = body["secret"]
            if body.get("mode") in ("ok", "error", "hang"):
                box.mode = body["mode"]
            if isinstance(body.get("errorStatus"), int) and 100 <= body["errorStatus"] <= 599:
                box.error_status = body["errorStatus"]
            if isinstance(body.get("failNext"), int) and body["failNext"] >= 0:
                box.fail_next = body["failNext"]
            return 200, _json.encode(box.config())
        return 404, b'{"code":"NOT_FOUND"}'


async def wait_disconnect(receive: Any, seconds: float) -> None:
    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), seconds)
    except TimeoutError:
        pass
