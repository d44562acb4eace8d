"""Realistic lead files for demos, tests and the bench (``tm-admin gen-leads``): Russian names, valid
phones and dates, every column of appendix А; optionally a fraction of bad rows (one fault each)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from backend.leads.columns import COLUMNS, PRODUCT_TYPES

_MALE = (("Иванов", "Иван", "Петрович"), ("Смирнов", "Алексей", "Игоревич"), ("Кузнецов", "Дмитрий", "Сергеевич"),
         ("Попов", "Андрей", "Николаевич"), ("Бекишов", "Айдарбек", "Кубанычбекович"),
         ("Алиев", "Рустам", "Тимурович"), ("Соколов", "Максим", "Олегович"), ("Лебедев", "Егор", "Алексеевич"),
         ("Козлов", "Артём", "Викторович"), ("Новиков", "Сергей", "Юрьевич"))
_FEMALE = (("Ибрагимова", "Шахноза", "Рустамовна"), ("Кузнецова", "Мария", "Павловна"),
           ("Смирнова", "Анна", "Андреевна"), ("Попова", "Елена", "Викторовна"), ("Волкова", "Ольга", "Игоревна"),
           ("Морозова", "Татьяна", "Сергеевна"), ("Фёдорова", "Наталья", "Олеговна"),
           ("Михайлова", "Ксения", "Дмитриевна"))
_COUNTRIES = ("RUS", "RUS", "RUS", "KGZ", "UZB", "TJK", "KAZ", "ARM")
_OS = ("ANDROID", "ANDROID", "IOS")
_VERSIONS = ("3.102.0", "3.101.2", "3.99.0", "4.0.1")
MOSCOW_OFFSET = timedelta(hours=3)

# One fault per bad row: (what is broken, how).
FAULTS = ("phone", "date", "time", "status", "missing", "amount", "fields", "scoring", "unit", "nul")


def header(style: str = "ru") -> list[str]:
    return [c.ru if style == "ru" else c.code for c in COLUMNS]


def _row(rng: random.Random, application_no: int, now: datetime) -> list[str]:
    male = rng.random() < 0.55
    last, first, middle = rng.choice(_MALE if male else _FEMALE)
    created = now - timedelta(seconds=rng.randint(3600, 30 * 86400))
    changed = created + timedelta(seconds=rng.randint(0, 3 * 86400))
    if changed > now:
        changed = now
    status = rng.choice(("created", "registered", "scored", "scored", "canceled"))
    scored = status == "scored"
    loan = scored and rng.random() < 0.5
    loan_at = changed + timedelta(minutes=rng.randint(1, 600)) if loan else None
    if loan_at is not None and loan_at > now:
        loan_at = now
    requested = rng.randrange(3000, 100001, 500)
    approved = min(requested, rng.randrange(3000, 60001, 500)) if scored else None
    birth = datetime(1960, 1, 1) + timedelta(days=rng.randint(0, 45 * 365))
    term_unit = rng.choice(("day", "month"))
    return [
        str(application_no),
        f"{created:%d.%m.%Y}", f"{created:%H:%M:%S}",
        f"{changed:%d.%m.%Y}", f"{changed:%H:%M:%S}",
        status,
        f"{loan_at:%d.%m.%Y}" if loan_at else "", f"{loan_at:%H:%M:%S}" if loan_at else "",
        rng.choice(("transferred", "received", "repaid")) if loan else "",
        rng.choice(("approved", "approved", "rejected")) if scored else "",
        rng.choice(("pioneer", "repeater")),
        f"79{rng.randrange(10**9):09d}",
        f"{rng.getrandbits(80):020x}",
        rng.choice(_COUNTRIES),
        f"{rng.randrange(10**4):04d}", f"AM{rng.randrange(10**6):06d}",
        last.upper(), first.upper(), middle.upper(),
        f"{birth:%d.%m.%Y}", "M" if male else "F",
        rng.choice(_OS), rng.choice(_VERSIONS), f"{rng.getrandbits(64):016x}",
        str(requested), str(approved) if approved is not None else "",
        rng.choice(PRODUCT_TYPES[:3]),
        str(rng.randint(7, 63) if term_unit == "day" else rng.randint(1, 12)), term_unit,
        str(rng.choice((0, 7, 14))), "day",
    ]


def _spoil(rng: random.Random, row: list[str]) -> list[str]:
    fault = rng.choice(FAULTS)
    if fault == "phone":
        row[11] = "8" + row[11][1:]
    elif fault == "date":
        row[1] = "31.02.2023"
    elif fault == "time":
        row[2] = "25:61:00"
    elif fault == "status":
        row[5] = "approved"
    elif fault == "missing":
        row[0] = ""
    elif fault == "amount":
        row[24] = "25 000 руб"
    elif fault == "fields":
        row = row[:-3]
    elif fault == "scoring":
        row[5], row[9] = "created", "approved"
    elif fault == "unit":
        row[28] = "week"
    else:
        row[17] = row[17][:2] + "\x00" + row[17][2:]
    return row


def rows(count: int, *, bad_fraction: float = 0.0, seed: int | None = None, start: int | None = None,
         now: datetime | None = None) -> Iterator[list[str]]:
    """``count`` data rows; application numbers run from ``start`` (random by default, so that two generated
    files never share applications)."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    first = start if start is not None else rng.randrange(10**9, 9 * 10**12)
    # The file holds Moscow wall time.
    utc_now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    moscow_now = utc_now + MOSCOW_OFFSET
    for i in range(count):
        row = _row(rng, first + i, moscow_now)
        if bad_fraction and rng.random() < bad_fraction:
            row = _spoil(rng, row)
        yield row


def write(out: IO[bytes], count: int, *, bad_fraction: float = 0.0, delimiter: str = ";", encoding: str = "utf-8",
          header_style: str = "ru", seed: int | None = None, start: int | None = None) -> int:
    """Writes the header and ``count`` rows; returns the bytes written. No value holds the delimiter or a
    quote, so rows are written without quoting."""
    lines = [delimiter.join(header(header_style))]
    written = 0
    for row in rows(count, bad_fraction=bad_fraction, seed=seed, start=start):
        lines.append(delimiter.join(row))
        if len(lines) >= 10000:
            written += out.write(("\n".join(lines) + "\n").encode(encoding))
            lines = []
    if lines:
        written += out.write(("\n".join(lines) + "\n").encode(encoding))
    return written


def write_file(path: Path, count: int, **kwargs: object) -> int:
    """Written as ``<path>.part`` and renamed, so a watching worker never sees it half-written."""
    part = path.with_name(path.name + ".part")
    with part.open("wb") as out:
        size = write(out, count, **kwargs)  # type: ignore[arg-type]
    part.rename(path)
    return size
