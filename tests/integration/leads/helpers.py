"""Lead files for the tests, and waiting for their import records."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import asyncpg

from backend.leads import generate
from backend.leads.columns import COLUMNS

FAST = {"LEADS_POLL_SECONDS": "0.2", "LEADS_STABLE_SECONDS": "0.5"}
CODES = [c.code for c in COLUMNS]


def lead_rows(count: int, *, bad_fraction: float = 0.0, seed: int | None = None, start: int | None = None,
              now: datetime | None = None) -> list[list[str]]:
    return list(generate.rows(count, bad_fraction=bad_fraction, seed=seed, start=start, now=now))


def csv_bytes(rows: list[list[str]], *, delimiter: str = ";", encoding: str = "utf-8", header: str = "ru") -> bytes:
    lines = [delimiter.join(generate.header(header))] + [delimiter.join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def drop(folder: Path, name: str, data: bytes) -> Path:
    """Written as name.part and renamed, like a careful producer."""
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / (name + ".part")
    part.write_bytes(data)
    target = folder / name
    part.rename(target)
    return target


def xlsx_bytes(rows: list[list[Any]], *, header: str = "ru") -> bytes:
    """A minimal workbook (inline strings and numbers), enough for python-calamine."""

    def cell(ref: str, value: Any) -> str:
        if isinstance(value, (int, float)):
            return f'<c r="{ref}"><v>{value}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'

    def col(i: int) -> str:
        name = ""
        i += 1
        while i:
            i, rem = divmod(i - 1, 26)
            name = chr(65 + rem) + name
        return name

    body = []
    for r, row in enumerate([generate.header(header), *rows], 1):
        body.append(f'<row r="{r}">' + "".join(cell(f"{col(i)}{r}", v) for i, v in enumerate(row) if v != "") +
                    "</row>")
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             + "".join(body) + "</sheetData></worksheet>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                   'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                   'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
                   '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
                   'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
                   'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
                   'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
                   'relationships"><sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return out.getvalue()


async def wait_import(db: asyncpg.Pool, file_name: str, *, timeout: float = 60, moved: bool = True,
                      states: tuple[str, ...] = ("done", "rejected")) -> asyncpg.Record:
    """The newest record of this file name once it is in one of ``states`` (and its files moved)."""
    deadline = time.monotonic() + timeout
    while True:
        row = await db.fetchrow("SELECT * FROM lead_imports WHERE file_name = $1 ORDER BY id DESC LIMIT 1", file_name)
        if row is not None and row["state"] in states and (not moved or row["moved_at"] is not None):
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"{file_name}: no import in {states} within {timeout} s; last: "
                                 f"{dict(row) if row else None}")
        await asyncio.sleep(0.1)


def read_report(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def moscow(day: str, clock: str) -> datetime:
    """A file's Moscow wall time as an aware UTC datetime."""
    local = datetime.strptime(f"{day} {clock}", "%d.%m.%Y %H:%M:%S")
    return (local.replace(tzinfo=UTC) - (datetime(2000, 1, 1, 3, tzinfo=UTC) - datetime(2000, 1, 1, tzinfo=UTC)))
