"""Streamed CSV for spreadsheets, shared by every export (reports, the audit log): UTF-8 with a BOM so Excel reads
the encoding, `;` or `,`, decimal commas with `;`, and text a spreadsheet would run as a formula neutralised
(CSV injection). Rows are written into a buffer handed out in chunks, so an export of any size streams in
constant memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

BOM = "\ufeff"
CHUNK_BYTES = 64 * 1024
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any, *, decimal_comma: bool = False) -> Any:
    """One value as a spreadsheet should see it: None empty, booleans 1/0, decimals with the separator's comma,
    formula-like text behind an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float | Decimal):
        text = str(value)
        return text.replace(".", ",") if decimal_comma else text
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


class CsvChunks:
    """Rows in, bytes out: ``row`` appends, ``full`` says a chunk is ready, ``take`` hands it over."""

    def __init__(self, sep: str) -> None:
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, delimiter=sep, lineterminator="\r\n")
        self._comma = sep == ";"

    def row(self, values: Iterable[Any]) -> None:
        self._csv.writerow([cell(v, decimal_comma=self._comma) for v in values])

    def full(self) -> bool:
        return self._buffer.tell() >= CHUNK_BYTES

    def take(self) -> bytes:
        data = self._buffer.getvalue().encode()
        self._buffer.seek(0)
        self._buffer.truncate()
        return data
