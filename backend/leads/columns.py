"""The lead file contract: the columns of seed 001, appendix А (1.1–4.7), with their formats.

A file's header names its columns; each may be named by its Russian title (the appendix's description,
case, ``ё`` and extra spaces ignored) or by its English code. Columns may come in any order; an unknown or
repeated column rejects the file. README's column table is printed from this list
(``python -m backend.leads.columns``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Kinds of values (the format column of the appendix).
NUMBER = "number"  # digits only: the application number (fits a bigint)
DATE = "date"  # DD.MM.YYYY
TIME = "time"  # hh:mm:ss (Moscow time, with the date before it)
ENUM = "enum"  # one of ``values``
PHONE = "phone"  # 11 digits, the first 7
TEXT = "text"  # free text up to ``max_len`` characters
CODE = "code"  # letters only (country code), upper-cased
AMOUNT = "amount"  # roubles, at most two decimals (`.` or `,`); stored in kopecks
COUNT = "count"  # a whole number 0..99999

APPLICATION_STATUSES = ("created", "registered", "scored", "canceled")
LOAN_STATUSES = ("transferred", "received", "canceled", "repaid")
SCORING_RESULTS = ("approved", "rejected")
CLIENT_TYPES = ("pioneer", "repeater")
SEXES = ("M", "F")
TERM_UNITS = ("day", "month")
# Appendix А lists these and says "and others": LEADS_PRODUCT_TYPES may extend the list.
PRODUCT_TYPES = ("express", "consumer", "overdraft", "securedByCar", "onlineCreditTransfer", "webExpress")
# The appendix's own example spells "recieved": accepted as ``received``.
ALIASES = {"loan_status": {"recieved": "received"}}


@dataclass(frozen=True)
class Column:
    number: str
    code: str
    ru: str
    en: str
    required: bool
    kind: str
    values: tuple[str, ...] = ()
    max_len: int = 0
    example: str = ""


COLUMNS: tuple[Column, ...] = (
    # 1. Application header
    Column("1.1", "application_no", "Номер заявки", "Application number (the application's id)", True, NUMBER,
           example="34697463"),
    Column("1.2", "created_date", "Дата создания заявки / черновика", "Date the application (draft) was created",
           True, DATE, example="07.10.2022"),
    Column("1.3", "created_time", "Время создания заявки / черновика", "Time it was created, Moscow", True, TIME,
           example="00:00:00"),
    Column("1.4", "changed_date", "Дата значимого изменения заявки", "Date of the application's last significant "
           "change", True, DATE, example="07.10.2022"),
    Column("1.5", "changed_time", "Время значимого изменения заявки", "Time of that change, Moscow", True, TIME,
           example="00:00:00"),
    Column("1.6", "application_status", "Бизнес статус заявки", "Application status", True, ENUM,
           APPLICATION_STATUSES, example="created"),
    Column("1.7", "loan_changed_date", "Дата значимого изменения займа", "Date of the loan's last significant "
           "change", False, DATE, example="07.10.2022"),
    Column("1.8", "loan_changed_time", "Время значимого изменения займа", "Time of that change, Moscow", False, TIME,
           example="00:00:00"),
    Column("1.9", "loan_status", "Бизнес статус займа", "Loan status", False, ENUM, LOAN_STATUSES,
           example="received"),
    Column("1.10", "scoring_result", "Результат скоринга", "Scoring result (only when the status is scored)",
           False, ENUM, SCORING_RESULTS, example="approved"),
    # 2. Client
    Column("2.1", "client_type", "Тип клиента", "Client type: first-time or repeat", True, ENUM, CLIENT_TYPES,
           example="pioneer"),
    Column("2.2", "phone", "Номер телефона", "Phone: 11 digits, the first 7, no +", True, PHONE,
           example="79057896050"),
    Column("2.3", "face_id", "faceID", "Face id", False, TEXT, max_len=128, example="2Zz484MBY7almrgo4-B0"),
    Column("2.4", "citizenship", "Гражданство", "Citizenship (country code)", False, CODE, max_len=3,
           example="KGZ"),
    Column("2.5", "passport_series", "Серия", "Identity document series", False, TEXT, max_len=16, example="1234"),
    Column("2.6", "passport_number", "Номер", "Identity document number", False, TEXT, max_len=32,
           example="AM123456"),
    Column("2.7", "last_name", "Фамилия", "Last name", False, TEXT, max_len=128, example="БЕКИШОВ"),
    Column("2.8", "first_name", "Имя", "First name", False, TEXT, max_len=128, example="АЙДАРБЕК"),
    Column("2.9", "middle_name", "Отчество", "Patronymic", False, TEXT, max_len=128, example="КУБАНЫЧБЕКОВИЧ"),
    Column("2.10", "birth_date", "Дата рождения", "Date of birth", False, DATE, example="01.02.1995"),
    Column("2.11", "sex", "Пол", "Sex", False, ENUM, SEXES, example="M"),
    # 3. Device
    Column("3.1", "device_os", "ОС", "Device operating system", False, TEXT, max_len=32, example="ANDROID"),
    Column("3.2", "app_version", "Версия МП", "Mobile app version", False, TEXT, max_len=32, example="3.102.0"),
    Column("3.3", "device_id", "DEVICE ID", "Device id", False, TEXT, max_len=128, example="be86e2a103acf33a"),
    # 4. Product
    Column("4.1", "requested_amount", "Желаемая сумма", "Amount asked for, roubles", False, AMOUNT, example="25000"),
    Column("4.2", "approved_amount", "Одобренная сумма", "Amount approved, roubles", False, AMOUNT, example="20000"),
    Column("4.3", "product_type", "Тип продукта", "Product type", False, ENUM, PRODUCT_TYPES, example="express"),
    Column("4.4", "term", "Срок займа", "Loan term", False, COUNT, example="63"),
    Column("4.5", "term_unit", "Размерность срока займа", "Unit of the term", False, ENUM, TERM_UNITS,
           example="day"),
    Column("4.6", "grace", "Длительность грейса", "Grace period", False, COUNT, example="7"),
    Column("4.7", "grace_unit", "Размерность срока длительности грейса", "Unit of the grace period", False, ENUM,
           TERM_UNITS, example="day"),
)
BY_CODE = {c.code: c for c in COLUMNS}
CODES = tuple(c.code for c in COLUMNS)
# Pairs that must be given together (a date and its time; a term and its unit).
PAIRS = (("loan_changed_date", "loan_changed_time"), ("term", "term_unit"), ("grace", "grace_unit"))

_SPACES = re.compile(r"\s+")


def normalize(name: str) -> str:
    return _SPACES.sub(" ", name.replace("\ufeff", "").strip().strip('"').strip()).lower().replace("ё", "е")


_NAMES: dict[str, str] = {}
for _c in COLUMNS:
    _NAMES[normalize(_c.ru)] = _c.code
    _NAMES[normalize(_c.code)] = _c.code
# "Номер" (2.6, document number) is also the start of "Номер заявки": only the exact title matches.


def resolve(header: str) -> str | None:
    """The column code a header cell names, or None."""
    return _NAMES.get(normalize(header))


def markdown_table() -> str:
    rows = ["| # | column (RU) | code | meaning | required | format | example |", "|---|---|---|---|---|---|---|"]
    formats = {NUMBER: "digits", DATE: "DD.MM.YYYY", TIME: "hh:mm:ss (Moscow)", PHONE: "11 digits, first 7",
               AMOUNT: "roubles, ≤ 2 decimals", COUNT: "whole number", CODE: "3 letters"}
    for c in COLUMNS:
        fmt = ", ".join(c.values) if c.kind == ENUM else formats.get(c.kind, f"text ≤ {c.max_len}")
        rows.append(f"| {c.number} | {c.ru} | `{c.code}` | {c.en} | {'yes' if c.required else 'no'} | {fmt} "
                    f"| {c.example} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
