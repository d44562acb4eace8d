"""The client card (seed appendix З, ClientCardDto) and list rows, built from database rows without I/O.

Times are shown as ``dd.MM.yyyy HH:mm`` in the operator's zone; dates of birth as ``dd.MM.yyyy``;
amounts stay in kopecks; phones are 11 digits.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from backend.workstation.schemas import OPEN_END

RESULT_KEYS = ("reason", "result", "comment", "reasonDetail")
# Appendix Е prints the rework list's result as a map with upper-case keys ({"COMMENT", "RESULT"}); З–К as
# {reason, result, comment}. The list carries both spellings, so a client of either reads it.
UPPER_KEYS = {"reason": "REASON", "result": "RESULT", "comment": "COMMENT", "reasonDetail": "REASON_DETAIL"}


def fmt_time(value: datetime | None, zone: ZoneInfo) -> str | None:
    """dd.MM.yyyy HH:mm, the year always four digits (strftime's %Y is not, before year 1000)."""
    if not value:
        return None
    local = value.astimezone(zone)
    return f"{local.day:02d}.{local.month:02d}.{local.year:04d} {local.hour:02d}:{local.minute:02d}"


def parse_birth_date(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _name(info: dict[str, Any], key: str, suffix: str) -> dict[str, str] | None:
    """A lead carries either a nested ``fullNameRu``/``fullNameEn`` or flat ``lastName``/``firstName``."""
    nested = info.get(key)
    if isinstance(nested, dict) and nested.get("name") and nested.get("lastName"):
        return {k: str(nested[k]) for k in ("name", "lastName", "middleName") if nested.get(k)}
    first, last = info.get("firstName" + suffix), info.get("lastName" + suffix)
    if not first or not last:
        return None
    out = {"name": str(first), "lastName": str(last)}
    if info.get("middleName" + suffix):
        out["middleName"] = str(info["middleName" + suffix])
    return out


def result_of(details: Any) -> dict[str, str] | None:
    if not isinstance(details, dict):
        return None
    out = {k: str(details[k]) for k in RESULT_KEYS if details.get(k) is not None}
    return out or None


def both_spellings(result: dict[str, str] | None) -> dict[str, str] | None:
    """A result for the rework list (appendix Е): the keys of З–К and their upper-case twins."""
    if not result:
        return None
    return {**result, **{UPPER_KEYS[k]: v for k, v in result.items() if k in UPPER_KEYS}}


def client_info(phone: str, info: dict[str, Any], today: date) -> dict[str, Any]:
    out: dict[str, Any] = {"phone": phone}
    for key, suffix in (("fullNameRu", ""), ("fullNameEn", "En")):
        name = _name(info, key, suffix)
        if name:
            out[key] = name
    if info.get("citizenship"):
        out["citizenship"] = str(info["citizenship"])
    born = parse_birth_date(info.get("birthDate"))
    if born:
        out["birthDate"] = f"{born.day:02d}.{born.month:02d}.{born.year:04d}"
        out["age"] = age_on(born, today)
    return out


def communication(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """CommunicationDto: used for the current communication, the history and the rework list."""
    out: dict[str, Any] = {
        "time": fmt_time(row.get("call_started_at") or row["created_at"], zone),
        "id": row["id"],
        "campaign": {"displayName": row["campaign_name"]},
        "callPhone": row["phone"],
        "operator": {"name": row["first_name"], "lastName": row["last_name"]},
    }
    if row.get("campaign_description"):
        out["campaign"]["description"] = row["campaign_description"]
    result = result_of(row.get("result_details"))
    if result:
        out["result"] = result
    return out


def _dict_item(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict) and "dictionaryKey" in value:
        return {"dictionaryKey": str(value["dictionaryKey"]), "dictionaryValue": str(value.get("dictionaryValue", ""))}
    return None


def product(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "doId": row["do_id"],
        "startTime": fmt_time(_ts(row["start_time"]), zone),
        "endTime": fmt_time(_ts(row.get("end_time")), zone) or OPEN_END,
        "term": row.get("term") or 0,
        "grace": row.get("grace") or 0,
        "current": bool(row.get("is_current")),
        "filling": _filling(row.get("filling")),
    }
    for key, column in (("statusDict", "status"), ("productDict", "product"), ("termUnitDict", "term_unit"),
                        ("graceUnitDict", "grace_unit"), ("retailChainNameDict", "retail_chain"),
                        ("deviceOsDict", "device_os"), ("creditMethodDict", "credit_method")):
        item = _dict_item(row.get(column))
        if item:
            out[key] = item
    for key, column in (("requestedAmount", "requested_amount"), ("approvedAmount", "approved_amount"),
                        ("interestRate", "interest_rate")):
        if row.get(column) is not None:
            out[key] = int(row[column])
    return out


def _filling(items: Any) -> list[dict[str, Any]]:
    """AppDocument items (appendix З) from the stored JSON: name and status always strings, errors as
    {errorDescription, advice}, documentDict a dictionary item; anything else in the JSON is left out."""
    out: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        doc: dict[str, Any] = {"name": str(item.get("name") or ""), "status": str(item.get("status") or "")}
        document = _dict_item(item.get("documentDict"))
        if document:
            doc["documentDict"] = document
        if isinstance(item.get("errors"), list):
            doc["errors"] = [{k: str(e[k]) for k in ("errorDescription", "advice") if e.get(k) is not None}
                             for e in item["errors"] if isinstance(e, dict)]
        out.append(doc)
    return out


def _ts(value: Any) -> datetime | None:
    """Rows aggregated with json_agg carry timestamps as ISO strings."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def build_card(row: dict[str, Any], zone: ZoneInfo, today: date) -> dict[str, Any]:
    info = row.get("client_info") or {}
    history_rows = row.get("history") or []
    for h in history_rows:
        h["created_at"] = _ts(h.get("created_at"))
        h["call_started_at"] = _ts(h.get("call_started_at"))
    current = communication(row, zone)
    if "draft_version" in row:
        # The version of the draft in "result": a draft saved from another version is refused (409).
        current["draftVersion"] = int(row["draft_version"])
    card = {
        "clientInfo": client_info(row["phone"], info, today),
        "currentCommunication": current,
        "productList": [product(p, zone) for p in row.get("products") or []],
        "history": [communication(h, zone) for h in history_rows],
    }
    if row.get("result_taxonomy"):
        # The campaign's result tree (rules): the form offers exactly these choices; absent: free text.
        card["resultTaxonomy"] = row["result_taxonomy"]
    return card
