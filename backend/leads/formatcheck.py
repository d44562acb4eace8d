"""Format control of appendix А, column-wise (polars): no I/O, no database.

A file is read as a header (``read_header``: encoding, delimiter, which column is where) and then chunks of
complete lines (``check_chunk``). A chunk whose lines are all plain (decodable, no NUL, no quotes, the
right number of fields) goes to polars' CSV reader as it is; otherwise each line is looked at in Python,
the bad ones reported and the good ones parsed. Then every column is checked at once with polars
expressions, so the cost per row is a few vectorised operations rather than Python code per value.

Every bad value is reported (row = the file's line number, column, value, reason); a row with any bad
value is a bad row.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from backend.leads.columns import (
    ALIASES,
    AMOUNT,
    BY_CODE,
    CODE,
    COLUMNS,
    COUNT,
    DATE,
    ENUM,
    NUMBER,
    PAIRS,
    PHONE,
    TEXT,
    TIME,
    Column,
    resolve,
)

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
CP1251 = "windows-1251"
MOSCOW = "Europe/Moscow"
VALUE_SHOWN = 200  # characters of a bad value repeated in the report
# UTF-8 Cyrillic (lead byte D0/D1 + continuation) found in a file read as Windows-1251: mixed encodings.
_UTF8_CYRILLIC = re.compile(rb"[\xd0\xd1][\x80-\xbf]")

# The typed columns of a lead snapshot, in the order they are written to PostgreSQL.
OUTPUT = ("line_no", "application_no", "created_at", "changed_at", "application_status", "loan_changed_at",
          "loan_status", "scoring_result", "client_type", "phone", "face_id", "citizenship", "passport_series",
          "passport_number", "last_name", "first_name", "middle_name", "birth_date", "sex", "device_os",
          "app_version", "device_id", "requested_amount", "approved_amount", "product_type", "term", "term_unit",
          "grace", "grace_unit")
ERROR_COLUMNS = ("row", "column", "value", "reason")


class FileRejected(Exception):
    """The whole file fails before its rows are looked at (empty, binary, no usable header, too big)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Layout:
    """What the header told: how to read the rest of the file."""

    encoding: str  # UTF8 or CP1251 (UTF8_BOM when the file starts with one); "" = ASCII so far
    delimiter: str
    codes: tuple[str, ...]  # column code at each position
    header_bytes: int  # where the first data line starts
    max_line_bytes: int = 65536
    product_types: frozenset[str] = frozenset()
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def decided(self) -> bool:
        return self.encoding != ""

    @property
    def label(self) -> str:
        return self.encoding or "ascii"


def _decode_header(raw: bytes) -> tuple[str, str]:
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw[3:].decode(UTF8), UTF8_BOM
        except UnicodeDecodeError:
            raise FileRejected("ENCODING", "the header is not valid UTF-8 although the file starts with a "
                                           "UTF-8 byte order mark") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected("ENCODING", "the file is UTF-16: save it as UTF-8 or Windows-1251")
    try:
        text = raw.decode(UTF8)
        return text, ("" if raw.isascii() else UTF8)
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode(CP1251)
    except UnicodeDecodeError:
        raise FileRejected("ENCODING", "the header is neither UTF-8 nor Windows-1251 text") from None
    return text, CP1251


def read_header(first: bytes, *, max_line_bytes: int, product_types: frozenset[str] = frozenset()) -> Layout:
    """``first``: the file's first bytes (at least a line's worth). Raises FileRejected with every problem
    of the header at once."""
    if not first:
        raise FileRejected("EMPTY", "the file is empty")
    end = first.find(b"\n")
    if end < 0:
        if len(first) >= max_line_bytes:
            raise FileRejected("NOT_CSV", f"no header line: the first {max_line_bytes} bytes hold no line break "
                                          "(a binary file?)")
        end = len(first)
    raw = first[:end].rstrip(b"\r")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected("ENCODING", "the file is UTF-16: save it as UTF-8 or Windows-1251")
    if b"\x00" in raw:
        raise FileRejected("NOT_CSV", "the header holds NUL bytes: a binary file, or UTF-16 text")
    text, encoding = _decode_header(raw)
    best: tuple[int, str, list[str]] | None = None
    for delimiter in (";", ","):
        cells = next(csv.reader([text], delimiter=delimiter), [])
        known = sum(1 for c in cells if resolve(c))
        if best is None or known > best[0]:
            best = (known, delimiter, cells)
    assert best is not None
    known, delimiter, cells = best
    problems: list[str] = []
    if known == 0:
        controls = sum(1 for b in first[:4096] if b < 9 or 13 < b < 32)
        if b"\x00" in first or controls > len(first[:4096]) // 20:
            raise FileRejected("NOT_CSV", "a binary file (NUL or control bytes), not CSV text")
        shown = text[:120].encode("unicode_escape").decode("ascii") if not text.isprintable() else text[:120]
        raise FileRejected("HEADER", "the first line is not a header with the documented column names "
                                     f"(it begins: {shown!r})")
    codes: list[str] = []
    for position, cell in enumerate(cells, 1):
        code = resolve(cell)
        if code is None:
            problems.append(f"unknown column {cell[:80]!r} (position {position})")
        elif code in codes:
            problems.append(f"column {cell[:80]!r} appears twice")
        codes.append(code or "")
    missing = [c for c in COLUMNS if c.required and c.code not in codes]
    problems += [f"required column {c.number} {c.ru!r} ({c.code}) is missing" for c in missing]
    if problems:
        raise FileRejected("HEADER", "; ".join(problems))
    return Layout(encoding=encoding, delimiter=delimiter, codes=tuple(codes),
                  header_bytes=end + 1 if end < len(first) else end, max_line_bytes=max_line_bytes,
                  product_types=product_types)


@dataclass
class ChunkResult:
    valid: pl.DataFrame  # OUTPUT columns, only rows with no bad value
    errors: pl.DataFrame  # ERROR_COLUMNS: one row per bad value (row is the line number)
    rows: int  # data rows seen (blank lines are not rows)
    bad_rows: int


def _error_frame(items: list[tuple[int, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(items, schema={"row": pl.Int64, "column": pl.String, "value": pl.String,
                                       "reason": pl.String}, orient="row")


def shown(value: str) -> str:
    """A bad value as the report repeats it: bounded, control characters visible."""
    value = value[:VALUE_SHOWN]
    if not value.isprintable():
        value = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in value)
    return value


def _decide(layout: Layout, raw: bytes) -> None:
    """A file that was ASCII so far takes its encoding from the first chunk with other bytes."""
    if layout.decided or raw.isascii():
        return
    try:
        raw.decode(UTF8)
        layout.encoding = UTF8
        return
    except UnicodeDecodeError:
        pass
    try:
        raw.decode(CP1251)
    except UnicodeDecodeError:
        layout.encoding = UTF8
        return
    layout.encoding = UTF8 if _UTF8_CYRILLIC.search(raw) else CP1251


def _line_problem(layout: Layout, line: bytes) -> tuple[str | None, str]:
    """(reason or None, the line as text) for one line of a chunk that needs a closer look."""
    enc = layout.encoding or UTF8
    if len(line) > layout.max_line_bytes:
        return (f"the line is longer than {layout.max_line_bytes} bytes",
                line[:80].decode(UTF8 if enc != CP1251 else CP1251, "replace") + "…")
    if b"\x00" in line:
        return "the row holds a NUL byte (binary data?)", line.replace(b"\x00", b"").decode(enc, "replace")
    if enc == CP1251 and not line.isascii() and _UTF8_CYRILLIC.search(line):
        try:
            return "the row is UTF-8 text in a Windows-1251 file (mixed encodings)", line.decode(UTF8)
        except UnicodeDecodeError:
            pass
    try:
        text = line.decode(UTF8 if enc == UTF8_BOM else enc)
    except UnicodeDecodeError:
        return (f"the row is not valid {'UTF-8' if enc != CP1251 else 'Windows-1251'} text (mixed encodings? "
                f"the file is read as {layout.label})"), line.decode(enc if enc != UTF8_BOM else UTF8, "replace")
    return None, text


def _parse(layout: Layout, raw: bytes, first_line: int) -> tuple[pl.DataFrame, list[tuple[int, str, str, str]], int]:
    """Lines to a frame of strings (one column per code, plus line_no), and the lines that are not rows."""
    codes = layout.codes
    width = len(codes)
    sep = layout.delimiter.encode()
    schema = {f"c{i}": pl.String for i in range(width)}
    enc = layout.encoding
    lines_total = raw.count(b"\n")
    # Plain: no NUL, no quotes, and width-1 delimiters per line in total (a blank or short line makes the total
    # fall short unless a longer line makes up for it, and polars refuses a line with more fields). polars
    # also refuses text that is not UTF-8: then every line is looked at.
    if b"\x00" not in raw and b'"' not in raw and raw.count(sep) == (width - 1) * lines_total:
        data: bytes | None = raw
        if enc == CP1251:
            try:
                data = None if _UTF8_CYRILLIC.search(raw) else raw.decode(CP1251).encode(UTF8)
            except UnicodeDecodeError:
                data = None
        frame: pl.DataFrame | None = None
        if data is not None:
            try:
                frame = pl.read_csv(data, separator=layout.delimiter, has_header=False, schema=schema,
                                    quote_char=None, infer_schema=False)
            except pl.exceptions.ComputeError:
                frame = None  # a row with more fields, or bytes that are not UTF-8
        if frame is not None and frame.height == lines_total:
            return frame.with_columns(pl.int_range(first_line, first_line + frame.height, dtype=pl.Int64)
                                      .alias("line_no")), [], lines_total

    # Some line is not plain. Plain lines still go to polars together; the others are looked at one by one.
    errors: list[tuple[int, str, str, str]] = []
    good: list[bytes] = []
    good_lines: list[int] = []
    odd: list[tuple[int, bytes]] = []
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    fields = width - 1
    for offset, line in enumerate(lines):
        if line.count(sep) == fields and b'"' not in line and b"\x00" not in line:
            good.append(line)
            good_lines.append(first_line + offset)
        elif line.strip():
            odd.append((first_line + offset, line))
        # else: a blank line is not a row
    rows = len(good) + len(odd)
    frames = []
    if good:
        frame = _read_plain(layout, good, schema)
        if frame is None:  # some of them are not text in the file's encoding: sort them out line by line
            odd = sorted(odd + list(zip(good_lines, good, strict=True)))
            good, good_lines = [], []
        else:
            frames.append(frame.with_columns(pl.Series("line_no", good_lines, dtype=pl.Int64)))
    odd_rows: list[list[str]] = []
    odd_lines: list[int] = []
    for number, line in odd:
        problem, text = _line_problem(layout, line)
        if problem is not None:
            errors.append((number, "", shown(text), problem))
            continue
        try:
            cells = next(csv.reader([text], delimiter=layout.delimiter, strict=True), None) if '"' in text \
                else text.split(layout.delimiter)
        except csv.Error as exc:
            errors.append((number, "", shown(text), f"malformed quotes: {exc}"))
            continue
        if cells is None or len(cells) != width:
            count = 0 if cells is None else len(cells)
            errors.append((number, "", shown(text), f"{count} fields where the header has {width}"))
            continue
        odd_rows.append(cells)
        odd_lines.append(number)
    if odd_rows:
        frame = pl.DataFrame(odd_rows, schema=schema, orient="row")
        frames.append(frame.with_columns(pl.Series("line_no", odd_lines, dtype=pl.Int64)))
    if not frames:
        return pl.DataFrame(schema={**schema, "line_no": pl.Int64}), errors, rows
    if len(frames) == 1:
        return frames[0], errors, rows
    return pl.concat(frames).sort("line_no"), errors, rows


def _read_plain(layout: Layout, lines: list[bytes], schema: dict[str, type[pl.String]]) -> pl.DataFrame | None:
    """Lines with the right number of delimiters, no quotes, no NUL: one polars read; None when some line is
    not text in the file's encoding (or, in a Windows-1251 file, looks like UTF-8)."""
    joined = b"\n".join(lines) + b"\n"
    if layout.encoding == CP1251:
        if _UTF8_CYRILLIC.search(joined):
            return None
        try:
            joined = joined.decode(CP1251).encode(UTF8)
        except UnicodeDecodeError:
            return None
    try:
        return pl.read_csv(joined, separator=layout.delimiter, has_header=False, schema=schema, quote_char=None,
                           infer_schema=False)
    except pl.exceptions.ComputeError:
        return None


def _checks(column: Column, x: pl.Expr, product_types: frozenset[str]) -> tuple[pl.Expr, pl.Expr]:
    """(reason or null, typed value) of one column; ``x`` is the stripped value, null when empty."""
    kind = column.kind
    bad: pl.Expr
    typed: pl.Expr
    reason: str
    if kind == NUMBER:
        bad, reason = ~x.str.contains(r"^[0-9]{1,18}$"), "not a number (digits only, at most 18)"
        typed = x.cast(pl.Int64, strict=False)
    elif kind == DATE:
        typed = x.str.strptime(pl.Date, "%d.%m.%Y", strict=False)
        bad = ~x.str.contains(r"^[0-9]{2}\.[0-9]{2}\.[0-9]{4}$") | typed.is_null() | (typed.dt.year() < 1900) \
            | (typed.dt.year() > 2099)
        reason = "not a date DD.MM.YYYY"
    elif kind == TIME:
        typed = x.str.strptime(pl.Time, "%H:%M:%S", strict=False)
        bad, reason = ~x.str.contains(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}$") | typed.is_null(), "not a time hh:mm:ss"
    elif kind == ENUM:
        values = column.values
        if column.code == "product_type" and product_types:
            values = tuple(sorted(product_types))
        aliases = ALIASES.get(column.code)
        typed = x.replace(aliases) if aliases else x
        bad, reason = ~typed.is_in(list(values)), "not one of: " + ", ".join(values)
    elif kind == PHONE:
        bad, reason = ~x.str.contains(r"^7[0-9]{10}$"), "not a phone: 11 digits, the first 7, no +"
        typed = x
    elif kind == CODE:
        bad, reason = ~x.str.contains(r"^[A-Za-z]{3}$"), "not a 3-letter country code"
        typed = x.str.to_uppercase()
    elif kind == AMOUNT:
        bad, reason = ~x.str.contains(r"^[0-9]{1,12}([.,][0-9]{1,2})?$"), \
            "not an amount in roubles (digits, at most 2 decimals)"
        parts = x.str.replace(",", ".", literal=True).str.split_exact(".", 1)
        typed = parts.struct.field("field_0").cast(pl.Int64, strict=False) * 100 \
            + parts.struct.field("field_1").str.pad_end(2, "0").cast(pl.Int64, strict=False).fill_null(0)
    elif kind == COUNT:
        bad, reason = ~x.str.contains(r"^[0-9]{1,5}$"), "not a whole number (at most 5 digits)"
        typed = x.cast(pl.Int32, strict=False)
    else:
        assert kind == TEXT
        bad, reason = x.str.len_chars() > column.max_len, f"longer than {column.max_len} characters"
        typed = x
    missing = "required value is missing" if column.required else None
    error = pl.when(x.is_null()).then(pl.lit(missing, dtype=pl.String)).when(bad).then(pl.lit(reason)) \
        .otherwise(pl.lit(None, dtype=pl.String))
    return error, typed


def _moscow(date: pl.Expr, time: pl.Expr) -> pl.Expr:
    """A Moscow wall-clock date and time as a UTC instant (naive, written as UTC)."""
    return date.dt.combine(time).dt.replace_time_zone(MOSCOW, ambiguous="earliest", non_existent="null") \
        .dt.convert_time_zone("UTC").dt.replace_time_zone(None)


def check_chunk(layout: Layout, raw: bytes, first_line: int) -> ChunkResult:
    """``raw``: complete lines (each ending with a line break; ``\\r\\n`` allowed) starting at line
    ``first_line`` of the file."""
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    _decide(layout, raw)
    strings, line_errors, rows = _parse(layout, raw, first_line)
    present = {code: f"c{i}" for i, code in enumerate(layout.codes)}
    stripped = strings.select(
        pl.col("line_no"),
        *[pl.col(name).str.strip_chars().replace("", None).alias(code) for code, name in present.items()],
        *[pl.lit(None, dtype=pl.String).alias(c.code) for c in COLUMNS if c.code not in present],
    )
    errors_exprs: dict[str, pl.Expr] = {}
    typed_exprs: dict[str, pl.Expr] = {}
    for column in COLUMNS:
        errors_exprs[column.code], typed_exprs[column.code] = _checks(column, pl.col(column.code),
                                                                      layout.product_types)
    checked = stripped.with_columns(
        *[e.alias("e_" + code) for code, e in errors_exprs.items()],
        *[t.alias("t_" + code) for code, t in typed_exprs.items()],
    )
    # Rules across columns: pairs given together, scoring only when scored, the times in order.
    cross: list[pl.Expr] = []
    for a, b in PAIRS:
        for one, other in ((a, b), (b, a)):
            cross.append(pl.when(pl.col("e_" + one).is_null() & pl.col(one).is_null() & pl.col(other).is_not_null())
                         .then(pl.lit(f"required when {BY_CODE[other].ru!r} is given"))
                         .otherwise(pl.col("e_" + one)).alias("e_" + one))
    checked = checked.with_columns(cross)
    created = _moscow(pl.col("t_created_date"), pl.col("t_created_time"))
    changed = _moscow(pl.col("t_changed_date"), pl.col("t_changed_time"))
    loan = _moscow(pl.col("t_loan_changed_date"), pl.col("t_loan_changed_time"))
    latest = (layout.now.astimezone(UTC) + timedelta(days=1)).replace(tzinfo=None)
    checked = checked.with_columns(created.alias("created_at"), changed.alias("changed_at"),
                                   loan.alias("loan_changed_at"))
    checked = checked.with_columns(
        pl.when(pl.col("e_scoring_result").is_null() & pl.col("scoring_result").is_not_null()
                & (pl.col("t_application_status") != "scored"))
        .then(pl.lit("given only when the application status is scored"))
        .otherwise(pl.col("e_scoring_result")).alias("e_scoring_result"),
        pl.when(pl.col("e_changed_date").is_null() & pl.col("e_changed_time").is_null()
                & pl.col("e_created_date").is_null() & pl.col("e_created_time").is_null()
                & (pl.col("changed_at") < pl.col("created_at")))
        .then(pl.lit("the significant change is earlier than the creation"))
        .when(pl.col("e_changed_date").is_null() & pl.col("e_changed_time").is_null()
              & (pl.col("changed_at") > latest))
        .then(pl.lit("more than a day in the future"))
        .otherwise(pl.col("e_changed_date")).alias("e_changed_date"),
        pl.when(pl.col("e_birth_date").is_null() & (pl.col("t_birth_date") > pl.lit(layout.now.date())))
        .then(pl.lit("in the future")).otherwise(pl.col("e_birth_date")).alias("e_birth_date"),
    )
    error_names = ["e_" + c.code for c in COLUMNS]
    checked = checked.with_columns(pl.any_horizontal([pl.col(n).is_not_null() for n in error_names]).alias("bad"))
    bad = checked.filter(pl.col("bad"))
    value_errors = [
        bad.filter(pl.col("e_" + c.code).is_not_null()).select(
            pl.col("line_no").alias("row"), pl.lit(f"{c.number} {c.ru}").alias("column"),
            pl.col(c.code).fill_null("").str.slice(0, VALUE_SHOWN).alias("value"),
            pl.col("e_" + c.code).alias("reason"))
        for c in COLUMNS]
    errors = pl.concat([_error_frame(line_errors), *value_errors]).sort("row", maintain_order=True)
    valid = checked.filter(~pl.col("bad")).select(
        pl.col("line_no"),
        pl.col("t_application_no").alias("application_no"),
        pl.col("created_at"), pl.col("changed_at"),
        pl.col("t_application_status").alias("application_status"),
        pl.col("loan_changed_at"),
        *[pl.col("t_" + code).alias(code) for code in OUTPUT[6:]],
    )
    return ChunkResult(valid=valid, errors=errors, rows=rows, bad_rows=len(line_errors) + bad.height)
