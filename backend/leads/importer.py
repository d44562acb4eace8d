"""One import: read the file in chunks, check each chunk (in a thread, the next one while the last is being
written), COPY the accepted rows into lead_snapshots, write the error report, and record the outcome.

All of a file's snapshots and its ``done`` state commit in one transaction: a crash at any point leaves
either nothing of the file or all of it, so running the import again after a crash imports it exactly once.
A file with bad rows in a stream that rejects such files stops writing at the first bad row, goes on
checking to report every bad row, and rolls back.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import asyncpg
import polars as pl

from backend.core.db import Conn
from backend.core.metrics import IMPORT_ROWS
from backend.core.settings import Settings
from backend.leads import queries
from backend.leads.formatcheck import ERROR_COLUMNS, ChunkResult, FileRejected, Layout, check_chunk, read_header
from backend.leads.reader import HEAD, Chunk, CsvChunks, XlsxChunks

log = logging.getLogger("backend.leads")
T = TypeVar("T")
SAMPLE = 20  # bad values kept in the record for the API
PROGRESS_EVERY = 0.5  # seconds between progress updates


@dataclass
class Job:
    import_id: int
    stream: str
    path: Path
    file_format: str  # csv or xlsx
    import_valid_rows: bool


@dataclass
class Outcome:
    state: str = "done"
    reason: str | None = None
    message: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    rows_total: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    snapshots_new: int = 0
    snapshots_unchanged: int = 0
    bytes_done: int = 0
    errors_sample: list[dict[str, Any]] = field(default_factory=list)
    report_rows: int = 0
    report_path: str | None = None
    stored_path: str | None = None


class ReportWriter:
    """``<name>.errors.csv``: row;column;value;reason, UTF-8 with a byte order mark (spreadsheets read it),
    every bad value up to ``cap`` lines, then a line saying how many more there were."""

    def __init__(self, path: Path, cap: int) -> None:
        self.path = path
        self.cap = cap
        self.lines = 0
        self.omitted = 0
        self.sample: list[dict[str, Any]] = []
        self._file: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
            self._file.write(("\ufeff" + ";".join(ERROR_COLUMNS) + "\n").encode())
        return self._file

    def add(self, errors: pl.DataFrame) -> None:
        if errors.height == 0:
            return
        if len(self.sample) < SAMPLE:
            self.sample += errors.head(SAMPLE - len(self.sample)).to_dicts()
        room = self.cap - self.lines
        part = errors.head(max(0, room))
        self.omitted += errors.height - part.height
        if part.height:
            part.write_csv(self._open(), include_header=False, separator=";")
            self.lines += part.height

    def file_problem(self, message: str) -> None:
        self.add(pl.DataFrame({"row": [None], "column": [""], "value": [""], "reason": [message]},
                              schema={"row": pl.Int64, "column": pl.String, "value": pl.String,
                                      "reason": pl.String}))

    def close(self) -> None:
        if self.omitted:
            self._open().write(f';;;{self.omitted} more bad values not listed (LEADS_MAX_REPORTED_ERRORS)\n'.encode())
            self.lines += 1
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class _Source:
    """The chunks of a CSV or XLSX file (blocking; used from one thread at a time)."""

    def __init__(self, job: Job, settings: Settings) -> None:
        self.job = job
        self._file: BinaryIO | None = None
        products = frozenset(settings.leads_product_types)
        chunks: CsvChunks | XlsxChunks
        if job.file_format == "xlsx":
            chunks = XlsxChunks(job.path, rows=settings.leads_batch_rows, max_line=settings.leads_max_line_bytes,
                                product_types=products)
        else:
            self._file = job.path.open("rb")
            layout = read_header(self._file.read(HEAD), max_line_bytes=settings.leads_max_line_bytes,
                                 product_types=products)
            chunks = CsvChunks(self._file, layout, rows=settings.leads_batch_rows,
                               max_line=settings.leads_max_line_bytes)
        self.layout: Layout = chunks.layout
        self._iter = iter(chunks)
        self.storing = True  # false once a file to be rejected whole has shown a bad row: nothing more to write

    def step(self) -> tuple[Chunk, ChunkResult, tuple[pl.DataFrame, bytes] | None] | None:
        """The next chunk, checked, and (when it has no bad row) its COPY text prepared."""
        chunk = next(self._iter, None)
        if chunk is None:
            return None
        result = check_chunk(self.layout, chunk.raw, chunk.first_line)
        bad = result.bad_rows > 0 or bool(chunk.overlong)
        storing = result.valid.height > 0 and self.storing and (self.job.import_valid_rows or not bad)
        return chunk, result, _prepare(self.job, result.valid) if storing else None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class _Reject(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


Place = Callable[[str, bool], tuple[str | None, str | None]]
Progress = Callable[[Outcome], None]


def _prepare(job: Job, valid: pl.DataFrame) -> tuple[pl.DataFrame, bytes]:
    """(rows, their COPY text): one row per application and change time (the first of the chunk)."""
    rows = valid.unique(subset=["application_no", "changed_at"], keep="first", maintain_order=True)
    return rows, _copy_text(job, rows)


def _copy_text(job: Job, rows: pl.DataFrame) -> bytes:
    data = rows.select(pl.lit(job.import_id, dtype=pl.Int64).alias("import_id"), pl.lit(job.stream).alias("stream"),
                       pl.all())
    buffer = io.BytesIO()
    data.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%d %H:%M:%S+00", date_format="%Y-%m-%d")
    return buffer.getvalue()


class _Known:
    """Which applications may have a snapshot already. Application numbers are given out in increasing order,
    so a chunk whose smallest number is above every number stored before this import began, and above every
    number of this file so far, holds new applications only: no lookup. Otherwise each number is looked up
    (on the import's connection, which also sees this file's earlier chunks)."""

    def __init__(self, stored_max: int | None) -> None:
        self.above = stored_max if stored_max is not None else -1

    async def filter(self, conn: Conn, rows: pl.DataFrame) -> pl.DataFrame:
        numbers = rows.get_column("application_no")
        lowest, highest = numbers.min(), numbers.max()
        assert isinstance(lowest, int) and isinstance(highest, int)
        fresh = lowest > self.above
        self.above = max(self.above, highest)
        if fresh:
            return rows
        known = await queries.latest_changes(conn, numbers.to_list())
        if not known:
            return rows
        seen = pl.DataFrame({"application_no": [r["application_no"] for r in known],
                             "known_us": [r["known_us"] for r in known]},
                            schema={"application_no": pl.Int64, "known_us": pl.Int64})
        return rows.join(seen, on="application_no", how="left", maintain_order="left").filter(
            pl.col("known_us").is_null() | (pl.col("changed_at").dt.epoch("us") > pl.col("known_us"))
        ).drop("known_us")


async def _store(conn: Conn, job: Job, known: _Known, valid: pl.DataFrame, rows: pl.DataFrame,
                 text: bytes) -> tuple[int, int]:
    """COPY the rows that are new snapshots; (new, already known). ``rows``/``text`` come from ``_prepare``."""
    kept = await known.filter(conn, rows)
    if kept.height != rows.height:
        text = await _in_thread(_copy_text, job, kept) if kept.height else b""
    if kept.height:
        await conn.copy_to_table("lead_snapshots", source=_once(text), columns=list(queries.SNAPSHOT_COLUMNS),
                                 format="csv")
    return kept.height, valid.height - kept.height


async def _once(data: bytes) -> AsyncIterator[bytes]:
    """COPY's data as an async iterable: asyncpg then reads no file in its thread pool."""
    yield data


# Chunks are checked in one thread: polars' and malloc's per-thread memory stays in one place.
_CHECKER = ThreadPoolExecutor(1, thread_name_prefix="leads-check")


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_CHECKER, func, *args)


async def run(conn: Conn, pool: asyncpg.Pool, settings: Settings, job: Job, *, report_tmp: Path, place: Place,
              on_progress: Progress | None = None) -> Outcome:
    """Import ``job`` on ``conn`` (which holds the file's lock) and record the outcome (``place(state,
    has_report)`` says where the file and its report will be, relative or absolute). Errors of PostgreSQL
    propagate (the import is tried again later); anything wrong with the file is a rejection."""
    out = Outcome()
    report = ReportWriter(report_tmp, settings.leads_max_reported_errors)
    source: _Source | None = None
    try:
        try:
            size = (await asyncio.to_thread(job.path.stat)).st_size
            if size > settings.leads_max_file_bytes:
                raise _Reject("TOO_LARGE", f"the file has {size} bytes, more than LEADS_MAX_FILE_BYTES "
                                           f"({settings.leads_max_file_bytes}): split it")
            source = await _in_thread(_Source, job, settings)
        except FileRejected as exc:
            raise _Reject(exc.reason, exc.message) from None
        except (OSError, ValueError) as exc:
            raise _Reject("UNREADABLE", f"the file cannot be read: {type(exc).__name__}: {exc}"[:500]) from None
        out.encoding = "xlsx" if job.file_format == "xlsx" else source.layout.label
        out.delimiter = source.layout.delimiter
        await _import(conn, pool, job, source, out, report, on_progress, place)
        IMPORT_ROWS.labels("accepted").inc(out.rows_accepted)
        IMPORT_ROWS.labels("rejected").inc(out.rows_total - out.rows_accepted)
        return out
    except _Reject as rejection:
        if rejection.reason not in ("BAD_ROWS",):
            report.discard()
            report = ReportWriter(report_tmp, settings.leads_max_reported_errors)
            report.file_problem(rejection.message)
            report.close()
        out.state, out.reason, out.message = "rejected", rejection.reason, rejection.message
        out.rows_accepted = out.snapshots_new = out.snapshots_unchanged = 0
        IMPORT_ROWS.labels("rejected").inc(out.rows_total)
        out.errors_sample, out.report_rows = report.sample, report.lines
        out.stored_path, out.report_path = place("rejected", report.lines > 0)
        await queries.finish(pool, job.import_id, **fields_of(out))
        return out
    finally:
        report.close()
        if source is not None:
            source.close()


async def _import(conn: Conn, pool: asyncpg.Pool, job: Job, source: _Source, out: Outcome, report: ReportWriter,
                  on_progress: Progress | None, place: Place) -> None:
    """The transaction; raises _Reject("BAD_ROWS") to roll it back when the file is to be rejected whole."""
    last_progress = time.monotonic()
    async with conn.transaction():
        known = _Known(await queries.highest_application(conn))
        pending = asyncio.ensure_future(_in_thread(source.step))
        try:
            while True:
                item = await pending
                if item is None:
                    break
                pending = asyncio.ensure_future(_in_thread(source.step))  # check the next while we write
                chunk, result, prepared = item
                overlong = len(chunk.overlong)
                out.rows_total += result.rows + overlong
                out.rows_rejected += result.bad_rows + overlong
                if out.rows_rejected and not job.import_valid_rows:
                    source.storing = False
                out.bytes_done = chunk.position
                if overlong:
                    report.add(pl.DataFrame(chunk.overlong, schema=list(ERROR_COLUMNS), orient="row"))
                report.add(result.errors)
                if result.valid.height and (job.import_valid_rows or out.rows_rejected == 0):
                    if prepared is None:
                        prepared = await _in_thread(_prepare, job, result.valid)
                    rows, text = prepared
                    new, unchanged = await _store(conn, job, known, result.valid, rows, text)
                    out.rows_accepted += result.valid.height
                    out.snapshots_new += new
                    out.snapshots_unchanged += unchanged
                if time.monotonic() - last_progress >= PROGRESS_EVERY:
                    last_progress = time.monotonic()
                    await queries.progress(pool, job.import_id, rows_total=out.rows_total,
                                           rows_rejected=out.rows_rejected, bytes_done=out.bytes_done)
                    if on_progress is not None:
                        on_progress(out)
        finally:
            if not pending.done():
                await asyncio.gather(pending, return_exceptions=True)
        if on_progress is not None:
            on_progress(out)
        if out.rows_total == 0:
            raise _Reject("NO_ROWS", "the file has a header but no rows")
        if out.rows_rejected and not job.import_valid_rows:
            report.close()
            out.errors_sample, out.report_rows = report.sample, report.lines
            raise _Reject("BAD_ROWS", f"{out.rows_rejected} of {out.rows_total} rows failed format control; "
                                      "nothing was imported (see the error report)")
        report.close()
        out.errors_sample, out.report_rows = report.sample, report.lines
        out.stored_path, out.report_path = place("done", report.lines > 0)
        await queries.finish(conn, job.import_id, **fields_of(out))


def fields_of(out: Outcome) -> dict[str, Any]:
    return {"state": out.state, "reason": out.reason, "message": out.message, "encoding": out.encoding,
            "delimiter": out.delimiter, "rows_total": out.rows_total, "rows_accepted": out.rows_accepted,
            "rows_rejected": out.rows_rejected, "snapshots_new": out.snapshots_new,
            "snapshots_unchanged": out.snapshots_unchanged, "bytes_done": out.bytes_done,
            "errors_sample": out.errors_sample, "report_rows": out.report_rows, "report_path": out.report_path,
            "stored_path": out.stored_path}
