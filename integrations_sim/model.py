"""The simulator's state: per-service faults and counters, and the verdicts the services answer.

Verdicts are deterministic: blacklists and client records are sets/maps the control endpoint fills; an ML
reject rate is applied by hashing (model, application number), so a given lead gets the same answer in
every run and every process; products are per client type.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec

SERVICES = ("blacklist", "ml", "products", "client-data")
MODELS = ("DEVICE", "PHONE", "FACE", "DOCUMENT")

# Amounts in kopecks. What "Abram" offers when the control endpoint set nothing for a client type.
CATALOGUE: dict[str, dict[str, Any]] = {
    "express": {"minAmount": 100_000, "maxAmount": 3_000_000, "ratePercent": 292.0, "termDays": 30},
    "consumer": {"minAmount": 3_000_000, "maxAmount": 50_000_000, "ratePercent": 24.9, "termDays": 365},
    "overdraft": {"minAmount": 500_000, "maxAmount": 10_000_000, "ratePercent": 36.0, "termDays": 60},
    "securedByCar": {"minAmount": 5_000_000, "maxAmount": 100_000_000, "ratePercent": 19.9, "termDays": 720},
    "onlineCreditTransfer": {"minAmount": 10_000, "maxAmount": 1_500_000, "ratePercent": 0.0, "termDays": 30},
    "webExpress": {"minAmount": 100_000, "maxAmount": 3_000_000, "ratePercent": 292.0, "termDays": 30},
}
DEFAULT_PRODUCTS: dict[str, list[str]] = {"pioneer": ["express"], "repeater": ["express", "consumer", "overdraft"]}


class Faults(msgspec.Struct, rename="camel"):
    latency_ms: float = 0.0
    error_rate: float = 0.0  # share of requests answered error_status (a seeded random draw)
    error_status: int = 500
    status: int | None = None  # every request answers this status
    fail_next: int = 0  # the next N requests answer error_status
    hang: bool = False  # requests never answer (until the client goes away, or 120 s)
    garbage: bool = False  # 200 with a body that is not the service's JSON


class Verdicts(msgspec.Struct, rename="camel"):
    blacklist_phones: list[str] = []
    blacklist_devices: list[str] = []
    ml_reject: dict[str, list[int]] = {}
    ml_reject_rate: dict[str, float] = {}
    products: dict[str, list[str]] = msgspec.field(default_factory=lambda: dict(DEFAULT_PRODUCTS))
    client_data: dict[str, dict[str, Any]] = {}
    client_data_synthesize: bool = True  # unknown clients get a made-up record (Casper knows most people)


@dataclass
class Counters:
    requests: int = 0
    leads: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    faulted: int = 0  # answered with an injected error, hang or garbage

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "leads": self.leads, "inFlight": self.in_flight,
                "maxInFlight": self.max_in_flight, "faulted": self.faulted}


def fraction(*parts: object) -> float:
    """A stable number in [0, 1) for these parts (same in every run and process)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class World:
    """Everything the simulator knows; one per process (reset by POST /_control/reset)."""

    faults: dict[str, Faults] = field(default_factory=lambda: {s: Faults() for s in SERVICES})
    counters: dict[str, Counters] = field(default_factory=lambda: {s: Counters() for s in SERVICES})
    verdicts: Verdicts = field(default_factory=Verdicts)
    phones: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    ml_reject: dict[str, frozenset[int]] = field(default_factory=dict)
    # Who got a real answer (200 with the service's JSON, sent): per service — per ML model, "ml:PHONE" —
    # the application numbers (BlackList: the phones). GET /_control/answered; the fault suite checks that no
    # lead passed an integration filter without one.
    answered: dict[str, set[Any]] = field(default_factory=dict)

    def record_answer(self, key: str, leads: list[Any]) -> None:
        self.answered.setdefault(key, set()).update(leads)

    def set_verdicts(self, changes: dict[str, Any]) -> None:
        known = {f.encode_name for f in msgspec.structs.fields(Verdicts)}
        if unknown := sorted(set(changes) - known):
            raise ValueError(f"unknown verdicts {unknown}")
        merged = {**msgspec.to_builtins(self.verdicts), **changes}
        self.verdicts = msgspec.convert(merged, Verdicts, str_keys=True)
        self.phones = frozenset(self.verdicts.blacklist_phones)
        self.devices = frozenset(self.verdicts.blacklist_devices)
        self.ml_reject = {m.upper(): frozenset(v) for m, v in self.verdicts.ml_reject.items()}

    # --- the services' answers (one lead / one query) -------------------------------------------------

    def blacklist_search(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        clauses = query.get("$or")
        if clauses is None:
            clauses = [query]
        if not isinstance(clauses, list):
            raise ValueError("$or must be a list")
        records: dict[str, dict[str, Any]] = {}
        for clause in clauses:
            if not isinstance(clause, dict):
                raise ValueError("a clause must be an object")
            phone, device = clause.get("phone"), clause.get("device_id")
            if phone is not None and phone in self.phones:
                rid = f"bl-p-{int(fraction('p', phone) * 1e9)}"
                records[rid] = {"id": rid, "phone": phone, "device_id": None, "reason": "FRAUD", "until": None}
            if device is not None and device in self.devices:
                rid = f"bl-d-{int(fraction('d', device) * 1e9)}"
                records[rid] = {"id": rid, "phone": None, "device_id": device, "reason": "FRAUD", "until": None}
        return list(records.values())

    def ml_score(self, model: str, item: dict[str, Any]) -> dict[str, Any]:
        app = int(item["applicationNo"])
        rate = self.verdicts.ml_reject_rate.get(model, 0.0)
        draw = fraction("ml", model, app)
        if app in self.ml_reject.get(model, frozenset()):
            score, decision = 0.05, "REJECT"
        elif draw < rate:
            score, decision = round(draw / max(rate, 1e-9) * 0.5, 4), "REJECT"
        else:
            score, decision = round(0.5 + draw / 2, 4), "APPROVE"
        return {"applicationNo": app, "model": model, "score": score, "decision": decision}

    def offers(self, item: dict[str, Any]) -> dict[str, Any]:
        client_type = str(item.get("clientType") or "pioneer")
        codes = self.verdicts.products.get(client_type, [])
        products = [{"code": code, **CATALOGUE.get(code, CATALOGUE["express"])} for code in codes]
        return {"applicationNo": int(item["applicationNo"]), "borrowerType": client_type, "products": products}

    def client_lookup(self, item: dict[str, Any]) -> dict[str, Any]:
        app, phone = int(item["applicationNo"]), str(item.get("phone") or "")
        record = self.verdicts.client_data.get(phone)
        if record is None and self.verdicts.client_data_synthesize and phone:
            draw = fraction("casper", phone)
            record = {"phone": phone, "segment": "ABCD"[int(draw * 4)], "incomeBand": int(draw * 10) + 1,
                      "lastActivityDays": int(draw * 365), "paymentsLastYear": int(draw * 48),
                      "deviceId": item.get("deviceId")}
        return {"applicationNo": app, "found": record is not None, "client": record}
