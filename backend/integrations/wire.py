"""What goes over the wire to the four services and how their answers become ``Check``s — no I/O here,
so every parser is unit-tested on raw payloads (tests/unit/integrations/test_wire.py).

A check is planned as ``Request``s (path, encoded body, the leads it is about, and the parser of its
answer): one per batch of up to ``batch_size`` leads on a batch endpoint, or one per lead when
``batch_size`` is 0. A parser raises ``BadResponse`` when the whole answer is unusable (the transport then
gives every lead of that request ERROR "BAD_RESPONSE"); a lead the answer forgot gets that ERROR alone.

Endpoints (the simulator's module doc has the full contract):
  BlackList   POST /blacklist/api/v2/records/search   {"query":{"$or":[{"phone"},{"device_id"}...]}}
  ML          POST /ml/api/v1/models/{model}/score | score-batch
  Products    POST /products/api/v1/offers | offers-batch
  Client data POST /client-data/api/v1/clients/lookup | lookup-batch
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal, NamedTuple

import msgspec

from backend.integrations.checks import Check, IntegrationLead, MlModel

_encode = msgspec.json.encode


class BadResponse(Exception):
    """The service answered 2xx with something that is not its JSON."""


class Request(NamedTuple):
    path: str
    body: bytes
    leads: Sequence[IntegrationLead]
    parse: Callable[[bytes], list[Check]]


def _chunks(leads: Sequence[IntegrationLead], size: int) -> list[Sequence[IntegrationLead]]:
    return [leads[i:i + size] for i in range(0, len(leads), size)]


def _decoder(kind: Any) -> Callable[[bytes], Any]:
    decoder = msgspec.json.Decoder(kind)

    def decode(body: bytes) -> Any:
        try:
            return decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise BadResponse(str(exc)[:200]) from None

    return decode


PASS = Check(outcome="PASS")
MISSING = Check(outcome="ERROR", reason="BAD_RESPONSE", value="no answer for this lead")


# --- BlackList --------------------------------------------------------------------------------------------

class BlacklistRecord(msgspec.Struct):
    id: str
    phone: str | None = None
    device_id: str | None = None
    reason: str | None = None
    until: str | None = None


class BlacklistAnswer(msgspec.Struct):
    records: list[BlacklistRecord]
    total: int | None = None


BLACKLIST_PATH = "/blacklist/api/v2/records/search"
_blacklist_answer = _decoder(BlacklistAnswer)


def blacklist_query(leads: Sequence[IntegrationLead]) -> bytes:
    """One search for all these leads: an ``$or`` of their phones and device ids (each once)."""
    clauses: dict[tuple[str, str], None] = {}
    for lead in leads:
        clauses[("phone", lead.phone)] = None
        if lead.device_id:
            clauses[("device_id", lead.device_id)] = None
    return _encode({"query": {"$or": [{key: value} for key, value in clauses]}})


def parse_blacklist(body: bytes, leads: Sequence[IntegrationLead]) -> list[Check]:
    """A lead whose phone or device id has a record is BLACK_LISTED (value: the record's id)."""
    answer: BlacklistAnswer = _blacklist_answer(body)
    by_phone: dict[str, BlacklistRecord] = {}
    by_device: dict[str, BlacklistRecord] = {}
    for record in answer.records:
        if record.phone:
            by_phone.setdefault(record.phone, record)
        if record.device_id:
            by_device.setdefault(record.device_id, record)
    checks = []
    for lead in leads:
        hit = by_phone.get(lead.phone) or (by_device.get(lead.device_id) if lead.device_id else None)
        if hit is None:
            checks.append(PASS)
        else:
            checks.append(Check(outcome="REJECT", reason="BLACK_LISTED", value=hit.id,
                                data={"listReason": hit.reason, "until": hit.until}))
    return checks


def blacklist_requests(leads: Sequence[IntegrationLead], batch_size: int) -> list[Request]:
    return [Request(BLACKLIST_PATH, blacklist_query(part), part, partial(parse_blacklist, leads=part))
            for part in _chunks(leads, batch_size or 1)]



# --- ML ---------------------------------------------------------------------------------------------------

class MlItem(msgspec.Struct, rename="camel", omit_defaults=True):
    application_no: int
    phone: str
    device_id: str | None = None
    face_id: str | None = None
    passport_series: str | None = None
    passport_number: str | None = None


class MlScore(msgspec.Struct, rename="camel"):
    application_no: int
    score: float
    decision: Literal["APPROVE", "REJECT"]
    model: str | None = None


class MlBatch(msgspec.Struct):
    results: list[MlScore]


_ml_one = _decoder(MlScore)
_ml_batch = _decoder(MlBatch)


def _ml_item(lead: IntegrationLead) -> MlItem:
    return MlItem(lead.application_no, lead.phone, lead.device_id, lead.face_id, lead.passport_series,
                  lead.passport_number)


def _ml_check(score: MlScore) -> Check:
    if score.decision == "REJECT":
        return Check(outcome="REJECT", reason="ML_SCORE_LOW", value=str(score.score))
    return Check(outcome="PASS", data={"score": score.score})


def parse_ml(body: bytes, leads: Sequence[IntegrationLead], batch: bool) -> list[Check]:
    """REJECT "ML_SCORE_LOW" (value: the score) when the model's decision is REJECT."""
    scores = _ml_batch(body).results if batch else [_ml_one(body)]
    return _by_application(scores, leads, _ml_check)


def ml_requests(model: MlModel, leads: Sequence[IntegrationLead], batch_size: int) -> list[Request]:
    if batch_size:
        path = f"/ml/api/v1/models/{model}/score-batch"
        return [Request(path, _encode({"items": [_ml_item(lead) for lead in part]}), part,
                        partial(parse_ml, leads=part, batch=True)) for part in _chunks(leads, batch_size)]
    path = f"/ml/api/v1/models/{model}/score"
    return [Request(path, _encode(_ml_item(lead)), (lead,), partial(parse_ml, leads=(lead,), batch=False))
            for lead in leads]


# --- products ("Abram") -----------------------------------------------------------------------------------

class OfferItem(msgspec.Struct, rename="camel", omit_defaults=True):
    application_no: int
    phone: str
    client_type: str
    product_type: str | None = None
    requested_amount: int | None = None


class Product(msgspec.Struct, rename="camel"):
    code: str
    min_amount: int | None = None
    max_amount: int | None = None
    rate_percent: float | None = None
    term_days: int | None = None


class Offers(msgspec.Struct, rename="camel"):
    application_no: int
    products: list[Product]
    borrower_type: str | None = None


class OffersBatch(msgspec.Struct):
    results: list[Offers]


_offers_one = _decoder(Offers)
_offers_batch = _decoder(OffersBatch)


def _offer_item(lead: IntegrationLead) -> OfferItem:
    return OfferItem(lead.application_no, lead.phone, lead.client_type, lead.product_type, lead.requested_amount)


def parse_offers(body: bytes, leads: Sequence[IntegrationLead], wanted: Sequence[str], batch: bool) -> list[Check]:
    """PASS with data {"borrowerType", "products": [...]} — the offered products among ``wanted`` (all of
    them when ``wanted`` is empty); REJECT "NO_PRODUCTS" when none is left."""
    answers = _offers_batch(body).results if batch else [_offers_one(body)]
    allowed = frozenset(wanted)

    def check(offers: Offers) -> Check:
        products = [p for p in offers.products if not allowed or p.code in allowed]
        if not products:
            return Check(outcome="REJECT", reason="NO_PRODUCTS",
                         value=",".join(p.code for p in offers.products) or None)
        return Check(outcome="PASS", data={"borrowerType": offers.borrower_type,
                                           "products": msgspec.to_builtins(products)})

    return _by_application(answers, leads, check)


def offer_requests(leads: Sequence[IntegrationLead], wanted: Sequence[str], batch_size: int) -> list[Request]:
    if batch_size:
        return [Request("/products/api/v1/offers-batch", _encode({"items": [_offer_item(lead) for lead in part]}),
                        part, partial(parse_offers, leads=part, wanted=wanted, batch=True))
                for part in _chunks(leads, batch_size)]
    return [Request("/products/api/v1/offers", _encode(_offer_item(lead)), (lead,),
                    partial(parse_offers, leads=(lead,), wanted=wanted, batch=False)) for lead in leads]


# --- client data ("Casper") -------------------------------------------------------------------------------

class LookupItem(msgspec.Struct, rename="camel", omit_defaults=True):
    application_no: int
    phone: str
    device_id: str | None = None
    passport_series: str | None = None
    passport_number: str | None = None


class ClientAnswer(msgspec.Struct, rename="camel"):
    application_no: int
    found: bool
    client: dict[str, Any] | None = None


class ClientBatch(msgspec.Struct):
    results: list[ClientAnswer]


_client_one = _decoder(ClientAnswer)
_client_batch = _decoder(ClientBatch)


def _lookup_item(lead: IntegrationLead) -> LookupItem:
    return LookupItem(lead.application_no, lead.phone, lead.device_id, lead.passport_series, lead.passport_number)


def _client_check(answer: ClientAnswer) -> Check:
    return Check(outcome="PASS", data=answer.client if answer.found else None)


def parse_client_data(body: bytes, leads: Sequence[IntegrationLead], batch: bool) -> list[Check]:
    """Always PASS (enrichment does not judge): data is the client's record, or None when Casper knows nothing."""
    answers = _client_batch(body).results if batch else [_client_one(body)]
    return _by_application(answers, leads, _client_check)


def client_data_requests(leads: Sequence[IntegrationLead], batch_size: int) -> list[Request]:
    if batch_size:
        return [Request("/client-data/api/v1/clients/lookup-batch",
                        _encode({"items": [_lookup_item(lead) for lead in part]}), part,
                        partial(parse_client_data, leads=part, batch=True))
                for part in _chunks(leads, batch_size)]
    return [Request("/client-data/api/v1/clients/lookup", _encode(_lookup_item(lead)), (lead,),
                    partial(parse_client_data, leads=(lead,), batch=False)) for lead in leads]


# --- shared -----------------------------------------------------------------------------------------------

def _by_application(answers: Sequence[Any], leads: Sequence[IntegrationLead],
                    to_check: Callable[[Any], Check]) -> list[Check]:
    """Match answers to leads by application number (a batch answer's order is not trusted); a lead without
    an answer gets ERROR BAD_RESPONSE on its own."""
    by_app = {answer.application_no: answer for answer in answers}
    return [to_check(by_app[lead.application_no]) if lead.application_no in by_app else MISSING for lead in leads]
