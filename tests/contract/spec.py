"""The HTTP contract of seed 001's appendices Б–М, field by field, as data.

Each endpoint lists its request and response fields: the JSON path (``a.b``; ``[]`` steps into every item of
an array; ``{}`` names the values of a string→string map), the type, whether it is required (relative to its
parent: a required field must be there, non-null, whenever its parent is) and its format (a pattern the
appendix prints, lengths and bounds). ``check`` holds a live body to it; ``tests/contract/test_openapi_spec.py``
holds the served OpenAPI document to it; ``tests/contract/test_operator_flow.py`` drives a running server
through the thesis' operator flow (ch. 3, §2.6.5) and checks every response it gets.

Where the appendices contradict each other or themselves, the choice made is noted beside the field and in
README ("Compatibility with the existing client").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

STR, INT, BOOL, OBJ, ARR, MAP = "string", "integer", "boolean", "object", "array", "map"

DATETIME = "dd.MM.yyyy HH:mm"
DATE = "dd.MM.yyyy"
PHONE = "[0-9]{11}"
PATTERNS = {DATETIME: r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}$", DATE: r"^\d{2}\.\d{2}\.\d{4}$", PHONE: r"^[0-9]{11}$"}


@dataclass(frozen=True)
class F:
    path: str
    type: str
    required: bool = False
    format: str | None = None
    max_length: int | None = None
    min_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Endpoint:
    name: str
    appendix: str
    method: str
    path: str
    request: tuple[F, ...] = ()
    response: tuple[F, ...] = ()
    # Fields the appendix marks but our test data cannot produce (none so far): exempt from "seen at least once".
    unseen_ok: frozenset[str] = field(default_factory=frozenset)


def _prefixed(prefix: str, fields: tuple[F, ...]) -> tuple[F, ...]:
    return tuple(F(f"{prefix}.{f.path}", f.type, f.required, f.format, f.max_length, f.min_length, f.minimum,
                   f.maximum) for f in fields)


DICT = (F("dictionaryKey", STR, True), F("dictionaryValue", STR, True))


def _dict(name: str) -> tuple[F, ...]:
    return (F(name, OBJ), *_prefixed(name, DICT))


RESULT_BLOCK = (F("reason", STR), F("result", STR), F("comment", STR))

COMMUNICATION = (  # CommunicationDto of З/Л (currentCommunication, history[])
    F("time", STR, True, DATETIME),
    F("id", INT, True, minimum=0),
    F("campaign", OBJ),
    F("campaign.displayName", STR, True, max_length=32),
    F("campaign.description", STR),  # appendix: maxLength 32, yet a campaign's description is a paragraph
    F("callPhone", STR, True, PHONE, max_length=11, min_length=11),
    F("result", OBJ), *_prefixed("result", RESULT_BLOCK),
    F("operator", OBJ, True),
    F("operator.name", STR, True),
    F("operator.lastName", STR, True),
)

FULL_NAME = (F("name", STR, True, max_length=32), F("lastName", STR, True, max_length=32),
             F("middleName", STR, max_length=32))

PRODUCT = (
    F("startTime", STR, True, DATETIME),
    F("endTime", STR, True, DATETIME),
    *_dict("statusDict"), *_dict("productDict"),
    F("requestedAmount", INT, minimum=0), F("approvedAmount", INT, minimum=0),
    F("term", INT, True, minimum=0), *_dict("termUnitDict"),
    F("grace", INT, True, minimum=0), *_dict("graceUnitDict"),
    F("filling", ARR),
    F("filling[].name", STR, True, max_length=32),
    *_dict("filling[].documentDict"),
    F("filling[].status", STR, True, max_length=32),
    F("filling[].errors", ARR),
    F("filling[].errors[].errorDescription", STR),
    F("filling[].errors[].advice", STR),
    F("current", BOOL, True),
    *_dict("retailChainNameDict"), *_dict("deviceOsDict"), *_dict("creditMethodDict"),
    F("interestRate", INT, minimum=0),
)

CLIENT_CARD = (
    F("clientInfo", OBJ, True),
    F("clientInfo.phone", STR, True, PHONE, max_length=11, min_length=11),
    F("clientInfo.fullNameRu", OBJ), *_prefixed("clientInfo.fullNameRu", FULL_NAME),
    F("clientInfo.fullNameEn", OBJ), *_prefixed("clientInfo.fullNameEn", FULL_NAME),
    F("clientInfo.citizenship", STR, max_length=92),
    F("clientInfo.birthDate", STR, False, DATE, max_length=10),
    F("clientInfo.age", INT, minimum=18, maximum=128),
    F("currentCommunication", OBJ, True), *_prefixed("currentCommunication", COMMUNICATION),
    F("productList", ARR), *_prefixed("productList[]", PRODUCT),
    F("history", ARR), *_prefixed("history[]", COMMUNICATION),
)

STATUS = (F("status", STR, True),)
SAVE_REQUEST = (
    F("communicationId", INT, True, minimum=0),
    F("clientPhone", STR, True, PHONE, max_length=11, min_length=11),
    F("communicationResult", OBJ), *_prefixed("communicationResult", RESULT_BLOCK),
)
CARD_RESPONSE = (*STATUS, F("data", OBJ), F("data.clientCard", OBJ, True), *_prefixed("data.clientCard", CLIENT_CARD))

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("security.login", "Б", "POST", "/api/security/v1/login",
             request=(F("login", STR, True, max_length=2048), F("password", STR, True, max_length=2048)),
             response=(F("result", OBJ, True), F("result.code", STR, True), F("result.description", STR),
                       F("data", OBJ), F("data.token", STR, True, max_length=2048), F("data.operatorId", INT, True))),
    Endpoint("security.logout", "В", "POST", "/api/security/v1/logout",
             request=(F("token", STR, True, max_length=2048),),
             response=(F("result", OBJ, True), F("result.code", STR, True), F("result.description", STR)),
             unseen_ok=frozenset({"result.description"})),
    Endpoint("security.checkAccess", "Г", "POST", "/api/security/v1/checkAccess",
             request=(F("token", STR, True, max_length=2048), F("updateExpire", BOOL)),
             response=(F("result", OBJ, True), F("result.code", STR, True), F("result.description", STR))),
    Endpoint("arm.login", "Д", "POST", "/api/arm/v1/login",
             request=(F("login", STR, True, max_length=2048), F("password", STR, True, max_length=2048)),
             response=(*STATUS, F("data", OBJ), F("data.token", STR, True, max_length=2048))),
    Endpoint("arm.listCommunications", "Е", "GET", "/api/arm/v1/listCommunications",
             response=(*STATUS, F("data", OBJ), F("data.communications", ARR),
                       F("data.communications[].time", STR, False, DATETIME),
                       F("data.communications[].id", INT, False, minimum=0),
                       F("data.communications[].doId", STR, False, max_length=32),
                       F("data.communications[].campaign", OBJ),
                       F("data.communications[].campaign.displayName", STR, False, max_length=32),
                       F("data.communications[].campaign.description", STR),
                       F("data.communications[].callPhone", STR, False, PHONE, max_length=11, min_length=11),
                       # Е: a key-value map, upper-case keys in its example ({"COMMENT", "RESULT"})
                       F("data.communications[].result", MAP),
                       F("data.communications[].result.RESULT", STR),
                       F("data.communications[].result.COMMENT", STR),
                       F("data.communications[].operator", OBJ),
                       F("data.communications[].operator.name", STR),
                       F("data.communications[].operator.lastName", STR))),
    Endpoint("arm.hasChanges", "Ж", "GET", "/api/arm/v1/hasChanges",
             response=(*STATUS, F("data", OBJ), F("data.hasChanges", BOOL, True), F("data.changes", ARR),
                       F("data.changes[]", STR, False, max_length=32))),
    Endpoint("arm.getClientCard", "З", "GET", "/api/arm/v1/getClientCard", response=CARD_RESPONSE),
    Endpoint("arm.saveCommunicationDraft", "И", "POST", "/api/arm/v1/saveCommunicationDraft",
             request=SAVE_REQUEST, response=STATUS),
    Endpoint("arm.saveCommunicationResult", "К", "POST", "/api/arm/v1/saveCommunicationResult",
             request=SAVE_REQUEST, response=STATUS),
    Endpoint("arm.getClientCardByCommunicationId", "Л", "POST", "/api/arm/v1/getClientCardByCommunicationId",
             request=(F("communicationId", INT, True, minimum=0),), response=CARD_RESPONSE),
    Endpoint("arm.logout", "М", "GET", "/api/arm/v1/logout", response=STATUS),
)
BY_NAME = {e.name: e for e in ENDPOINTS}

# Every appendix example request, exactly as printed (placeholders <...> filled in by the flow).
EXAMPLE_REQUESTS: dict[str, dict[str, Any]] = {
    "security.login": {"login": "somelogin", "password": "somepassword"},
    "security.logout": {"token": "eyJhbGciOiJIUzUxMiJ9.eyJqdGkiOiJhODMxZjY2Ni1lNDhLLTRlNmItY"},
    "security.checkAccess": {"token": "eyJhbGciOiJIUzUxMiJ9.eyJqdGkiOiJhODMxZjY2Ni1lMDhLLTRlNmItY",
                             "updateExpire": True},
    "arm.login": {"login": "somelogin", "password": "somepassword"},
    "arm.saveCommunicationDraft": {"communicationId": 123456789, "clientPhone": "79963802789",
                                   "communicationResult": {"reason": "Не было с собой документа",
                                                           "result": "Заполнит позже", "comment": "string"}},
    "arm.saveCommunicationResult": {"communicationId": 123456789, "clientPhone": "79963802789",
                                    "communicationResult": {"reason": "Не было с собой документа",
                                                            "result": "Заполнит позже", "comment": "string"}},
    "arm.getClientCardByCommunicationId": {"communicationId": 123456789},
}

_TYPES: dict[str, tuple[type, ...]] = {STR: (str,), INT: (int,), BOOL: (bool,), OBJ: (dict,), ARR: (list,),
                                       MAP: (dict,)}


def _values(body: Any, path: str) -> list[tuple[str, Any, bool]]:
    """(concrete path, value, present) for every parent instance of ``path`` in ``body``."""
    steps = re.findall(r"[^.\[\]]+|\[\]", path)
    nodes: list[tuple[str, Any]] = [("", body)]
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        out: list[tuple[str, Any]] = []
        for where, node in nodes:
            if step == "[]":
                if isinstance(node, list):
                    out.extend((f"{where}[{i}]", item) for i, item in enumerate(node))
            elif isinstance(node, dict):
                if step in node:
                    out.append((f"{where}.{step}".lstrip("."), node[step]))
                elif last:
                    out.append((f"{where}.{step}".lstrip("."), _ABSENT))
        nodes = out
    return [(where, value, value is not _ABSENT) for where, value in nodes]


_ABSENT = object()


def check(fields: tuple[F, ...], body: Any, seen: set[str] | None = None) -> list[str]:
    """Every way ``body`` breaks ``fields`` (empty: it keeps the contract). Paths present are added to
    ``seen``. Extra fields are allowed (the README lists ours)."""
    problems: list[str] = []
    for f in fields:
        for where, value, present in _values(body, f.path):
            if not present or value is None:
                if f.required:
                    problems.append(f"{where}: required, {'null' if present else 'missing'}")
                elif present:
                    problems.append(f"{where}: null (absent is the contract's 'not set')")
                continue
            if seen is not None:
                seen.add(f.path)
            if not isinstance(value, _TYPES[f.type]) or (f.type == INT and isinstance(value, bool)):
                problems.append(f"{where}: {type(value).__name__}, expected {f.type}")
                continue
            if f.type == MAP and not all(isinstance(v, str) for v in value.values()):
                problems.append(f"{where}: a map of strings expected, got {value!r}")
            if f.format and not re.match(PATTERNS[f.format], value):
                problems.append(f"{where}: {value!r} is not {f.format}")
            if f.max_length is not None and len(value) > f.max_length:
                problems.append(f"{where}: longer than {f.max_length}")
            if f.min_length is not None and len(value) < f.min_length:
                problems.append(f"{where}: shorter than {f.min_length}")
            if f.minimum is not None and value < f.minimum:
                problems.append(f"{where}: below {f.minimum}")
            if f.maximum is not None and value > f.maximum:
                problems.append(f"{where}: above {f.maximum}")
    return problems
