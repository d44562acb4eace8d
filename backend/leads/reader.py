"""Reading a lead file in chunks of complete lines, never whole: a CSV file as it is, an XLSX workbook's first
sheet converted to the same CSV lines (python-calamine). Blocking code: the importer runs it in a thread."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from backend.leads.columns import BY_CODE, DATE, TIME
from backend.leads.formatcheck import FileRejected, Layout, read_header, shown

BLOCK = 1 << 20
HEAD = 1 << 16
XLSX_MAGIC = b"PK\x03\x04"


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


@dataclass
class Chunk:
    raw: bytes  # complete lines, each ending with \n
    first_line: int
    position: int  # bytes of the file read so far (progress)
    overlong: list[tuple[int, str, str, str]] = field(default_factory=list)  # lines replaced by blank ones


class CsvChunks:
    """Chunks of about ``rows`` lines. A line longer than ``max_line`` is never held whole: it is replaced by a
    blank line and reported."""

    def __init__(self, f: BinaryIO, layout: Layout, *, rows: int, max_line: int) -> None:
        self._f = f
        self.layout = layout
        self._rows = rows
        self._max_line = max_line
        f.seek(layout.header_bytes)
        self.position = layout.header_bytes
        self._rest = b""
        self._skipping = False
        self._line = 2  # the header is line 1
        self._eof = False

    def __iter__(self) -> Iterator[Chunk]:
        while (chunk := self.next()) is not None:
            yield chunk

    def next(self) -> Chunk | None:
        if self._eof:
            return None
        parts: list[bytes] = []
        lines = 0
        overlong: list[tuple[int, str, str, str]] = []
        first = self._line
        while lines < self._rows:
            block = self._f.read(BLOCK)
            self.position += len(block)
            if not block:
                self._eof = True
                if self._rest and not self._skipping:
                    parts.append(self._rest + b"\n")
                    lines += 1
                self._rest = b""
                break
            if self._skipping:
                cut = block.find(b"\n")
                if cut < 0:
                    continue
                block = block[cut + 1:]
                self._skipping = False
            end = block.rfind(b"\n")
            if end < 0:
                self._rest += block
            else:
                head = self._rest + block[:end + 1]
                self._rest = block[end + 1:]
                first_break = head.find(b"\n")
                if first_break > self._max_line:  # the line that was pending is overlong
                    overlong.append(self._too_long(first + lines, head[:first_break]))
                    head = b"\n" + head[first_break + 1:]
                parts.append(head)
                lines += head.count(b"\n")
            if len(self._rest) > self._max_line:
                overlong.append(self._too_long(first + lines, self._rest))
                parts.append(b"\n")
                lines += 1
                self._rest = b""
                self._skipping = True
        self._line = first + lines
        if not parts and not overlong:
            return None
        return Chunk(b"".join(parts), first, self.position, overlong)

    def _too_long(self, line: int, start: bytes) -> tuple[int, str, str, str]:
        return (line, "", shown(start[:80].decode("utf-8", "replace")) + "…",
                f"the line is longer than {self._max_line} bytes")


def _cell(value: Any, kind: str) -> str:
    """An XLSX cell as the CSV text format control expects for its column."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return f"{value:%H:%M:%S}" if kind == TIME else f"{value:%d.%m.%Y}" if kind == DATE else \
            f"{value:%d.%m.%Y %H:%M:%S}"
    if isinstance(value, date):
        return f"{value:%d.%m.%Y}"
    if isinstance(value, time):
        return f"{value:%H:%M:%S}"
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


class XlsxChunks:
    """The first sheet of a workbook as CSV chunks (``;``, UTF-8). calamine holds the sheet in memory: the
    upload size limit bounds it. Row numbers are the sheet's."""

    def __init__(self, path: Path, *, rows: int, max_line: int, product_types: frozenset[str]) -> None:
        from python_calamine import CalamineError, CalamineWorkbook

        try:
            book = CalamineWorkbook.from_path(str(path))
            sheet = book.get_sheet_by_index(0)
            self._rows_iter = iter(sheet.iter_rows())
            self.total_rows = sheet.height
        except (CalamineError, OSError, ValueError, IndexError) as exc:
            raise FileRejected("NOT_XLSX", f"the workbook cannot be read: {type(exc).__name__}: {exc}"[:300]) \
                from None
        header = next(self._rows_iter, None)
        if header is None:
            raise FileRejected("EMPTY", "the first sheet is empty")
        cells = [_cell(v, "") for v in header]
        while cells and not cells[-1].strip():
            cells.pop()  # a sheet is as wide as its widest row
        self._width = len(cells)
        line = self._csv(cells)
        self.layout = read_header(line, max_line_bytes=max_line, product_types=product_types)
        self.layout.encoding, self.layout.delimiter = "utf-8", ";"
        self._kinds = [BY_CODE[c].kind if c else "" for c in self.layout.codes]
        self._batch = rows
        self._line = 2
        self._size = path.stat().st_size

    @staticmethod
    def _csv(cells: list[str]) -> bytes:
        out = io.StringIO()
        csv.writer(out, delimiter=";", lineterminator="\n").writerow(cells)
        return out.getvalue().encode("utf-8")

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            out = io.StringIO()
            writer = csv.writer(out, delimiter=";", lineterminator="\n")
            first = self._line
            kinds = self._kinds
            count = 0
            width = self._width
            for row in self._rows_iter:
                cells = [_cell(v, kinds[i] if i < len(kinds) else "") for i, v in enumerate(row)]
                if len(cells) > width and not any(c.strip() for c in cells[width:]):
                    del cells[width:]
                if any(c.strip() for c in cells):
                    writer.writerow(cells)
                else:
                    out.write("\n")  # an empty sheet row is a blank line: not a row, but numbered
                count += 1
                if count >= self._batch:
                    break
            if count == 0:
                return
            self._line += count
            done = min(self._size, self._size * (self._line - 1) // max(1, self.total_rows))
            yield Chunk(out.getvalue().encode("utf-8"), first, done)


def looks_like_xlsx(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == XLSX_MAGIC

