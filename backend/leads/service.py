"""Lead intake: which file is imported when, by whom, exactly once, and where it goes afterwards.

* **Folders** (the worker's ``tick``): every stream folder is looked at; a file is taken once it is complete
  (not ``*.part``/``*.tmp``, older than LEADS_STABLE_SECONDS and the same size and time at two looks), oldest
  first. Its content hash decides: content already imported (or being imported) is a duplicate — recorded,
  nothing imported, the file goes to ``error/`` with a report saying so.
* **Uploads** (``register_upload``, from the web process): the file is already in ``.uploads/``; its record
  is queued and a worker imports it like a folder file.
* **Locks**: a file is imported under a PostgreSQL advisory lock on its path, held by the importing
  connection: several workers never import one file twice, and a worker that dies (kill -9) loses the lock
  with its connection. Its import's transaction is rolled back, so the next worker that finds the record
  open (``recover``) imports the file again from the start: exactly once in the end.
* **Moves**: the outcome is committed first (with the file's and the report's destination), the files are
  moved after; a crash between the two is finished by ``recover`` (``moved_at`` is still empty).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from backend.auth.audit import Actor
from backend.core.db import Conn, mark_session_state
from backend.core.errors import DEPENDENCY_ERRORS, Conflict
from backend.core.settings import Settings
from backend.leads import importer, queries
from backend.leads.importer import Job, Outcome, Progress, ReportWriter
from backend.leads.reader import looks_like_xlsx, sha256_of
from backend.leads.streams import (
    ERROR,
    PARTIAL_SUFFIXES,
    REPORT_SUFFIX,
    SUCCESS,
    WORK,
    Stream,
    absolute,
    base,
    configured,
    ensure_folders,
    free_name,
    relative,
)

log = logging.getLogger("backend.leads")
FINAL = ("done", "rejected")


def lock_key(source_path: str) -> int:
    """The advisory lock of one file (a bigint from its path)."""
    return int.from_bytes(hashlib.sha256(b"lead-file:" + source_path.encode()).digest()[:8], "big", signed=True)


def file_format(path: Path) -> str:
    return "xlsx" if looks_like_xlsx(path) else "csv"


class LeadIntake:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, root: Path | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.root = root if root is not None else base(settings)
        self.streams = configured(settings)
        self._seen: dict[str, tuple[int, int]] = {}

    # ---- the worker's pass --------------------------------------------------------------------------

    async def tick(self) -> None:
        """Finish or resume what is open, then import new files, oldest first, stream by stream."""
        if self.root is None:
            return
        await asyncio.to_thread(ensure_folders, self.root, self.settings)
        await self.recover()
        for stream in self.streams.values():
            for path in await asyncio.to_thread(self._candidates, stream):
                await self.take(stream, path)

    def _candidates(self, stream: Stream) -> list[Path]:
        assert self.root is not None
        folder = self.root / stream.folder
        found: list[tuple[int, str, Path]] = []
        now = time.time()
        seen_now: set[str] = set()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES) or name.endswith(REPORT_SUFFIX):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            key = entry.path
            seen_now.add(key)
            signature = (st.st_size, st.st_mtime_ns)
            previous = self._seen.get(key)
            self._seen[key] = signature
            stable = self.settings.leads_stable_seconds
            if now - st.st_mtime < stable or (stable > 0 and previous != signature):
                continue  # still being written, or not yet seen unchanged
            found.append((st.st_mtime_ns, name, Path(entry.path)))
        for key in [k for k in self._seen if k.startswith(str(folder) + os.sep) and k not in seen_now]:
            del self._seen[key]
        return [path for _, _, path in sorted(found)]

    @asynccontextmanager
    async def _locked(self, source_path: str) -> AsyncIterator[Conn | None]:
        """A connection holding the file's lock, or None when another process holds it."""
        key = lock_key(source_path)
        async with self.pool.acquire() as conn:
            mark_session_state(conn)  # the pool unlocks it on release should the unlock below not happen
            if not await queries.try_lock(conn, key):
                yield None
                return
            try:
                yield conn
            finally:
                with contextlib.suppress(*DEPENDENCY_ERRORS, asyncpg.PostgresError):
                    await queries.unlock(conn, key)

    async def take(self, stream: Stream, path: Path) -> None:
        assert self.root is not None
        rel = relative(self.root, path)
        async with self._locked(rel) as conn:
            if conn is None:
                return
            try:
                st = await asyncio.to_thread(path.stat)
            except FileNotFoundError:
                return  # another worker imported and moved it
            if (st.st_size, st.st_mtime_ns) != self._seen.get(str(path)):
                return
            digest, size = await asyncio.to_thread(sha256_of, path)
            st = await asyncio.to_thread(path.stat)
            if (st.st_size, st.st_mtime_ns) != self._seen.get(str(path)) or size != st.st_size:
                return  # written to while we read it: later
            for record in await queries.open_for_path(conn, rel):
                if record["content_hash"] == digest:
                    if record["state"] in FINAL:
                        await self._finalize(record)
                    else:
                        await self._run(conn, record)
                    return
                await self._close_stale(record, "REPLACED", "another file of the same name arrived before this "
                                                             "one was imported")
            fmt = await asyncio.to_thread(file_format, path)
            created = await queries.insert(conn, stream=stream.name, source="folder", file_name=path.name,
                                           source_path=rel, file_format=fmt, content_hash=digest, size_bytes=size,
                                           import_valid_rows=stream.import_valid_rows, state="importing")
            if created is None:
                holder = await queries.holder_of_hash(conn, digest)
                if holder is not None:
                    await self._duplicate(stream, path.name, rel, fmt, digest, size, holder)
                return
            log.info("lead file %s: import #%d started", rel, created["id"])
            await self._run(conn, created)

    async def recover(self) -> None:
        """Records left open: imports whose worker died (run again), files not yet moved (moved now), shell
        imports whose command died (rejected: nothing of them was imported)."""
        assert self.root is not None
        for record in await queries.open_records(self.pool):
            async with self._locked(record["source_path"]) as conn:
                if conn is None:
                    continue  # being worked on
                fresh = await queries.get(conn, record["id"])
                if fresh is None or fresh["moved_at"] is not None:
                    continue
                if fresh["state"] in FINAL:
                    await self._finalize(fresh)
                    continue
                if fresh["source"] == "cli":
                    await self._close_stale(fresh, "INTERRUPTED", "the import command stopped before it finished; "
                                                                  "nothing was imported: run it again")
                    continue
                path = absolute(self.root, fresh["source_path"])
                if not await asyncio.to_thread(path.is_file):
                    await self._close_stale(fresh, "GONE", "the file disappeared before it was imported")
                    continue
                if fresh["source"] == "folder":
                    digest, _ = await asyncio.to_thread(sha256_of, path)
                    if digest != fresh["content_hash"]:
                        await self._close_stale(fresh, "REPLACED", "the file changed before it was imported")
                        continue
                log.info("lead import #%d: %s again (attempt %d)", fresh["id"], fresh["source_path"],
                         fresh["attempts"] + 1)
                await self._run(conn, fresh)

    # ---- one import -----------------------------------------------------------------------------------

    def report_tmp(self, record: Any) -> Path:
        if record["source"] == "cli":
            return Path(record["source_path"] + REPORT_SUFFIX + ".part")
        assert self.root is not None
        return self.root / WORK / f"{record['id']}{REPORT_SUFFIX}"

    def _place(self, record: Any, state: str, has_report: bool) -> tuple[str | None, str | None]:
        if record["source"] == "cli":
            return None, (record["source_path"] + REPORT_SUFFIX if has_report else None)
        assert self.root is not None
        stream = self.streams.get(record["stream"])
        folder = self.root / (stream.folder if stream else record["stream"].lower()) / (
            SUCCESS if state == "done" else ERROR)
        target = free_name(folder, record["file_name"], record["id"])
        report = target.with_name(target.name + REPORT_SUFFIX) if has_report else None
        return relative(self.root, target), (relative(self.root, report) if report else None)

    async def _run(self, conn: Conn, record: Any, on_progress: Progress | None = None) -> Outcome | None:
        await queries.start(self.pool, record["id"])
        job = Job(import_id=record["id"], stream=record["stream"], path=absolute(self.root, record["source_path"]),
                  file_format=record["file_format"], import_valid_rows=record["import_valid_rows"])
        started = time.monotonic()
        try:
            outcome = await importer.run(conn, self.pool, self.settings, job, report_tmp=self.report_tmp(record),
                                         place=lambda state, has: self._place(record, state, has),
                                         on_progress=on_progress)
        except asyncpg.UniqueViolationError:
            # Another import stored the same snapshot meanwhile; ours rolled back: try again on the next pass.
            log.warning("lead import #%d met a concurrent import of the same applications; will retry",
                        record["id"])
            return None
        except DEPENDENCY_ERRORS:
            raise
        except Exception as exc:
            log.exception("lead import #%d failed", record["id"])
            outcome = await self._fail(record, f"the import failed: {type(exc).__name__}: {exc}"[:500])
        seconds = time.monotonic() - started
        log.info("lead import #%d %s: %s rows, %s accepted, %s rejected, %s new snapshots in %.1f s (%.0f rows/s)%s",
                 record["id"], outcome.state, outcome.rows_total, outcome.rows_accepted, outcome.rows_rejected,
                 outcome.snapshots_new, seconds, outcome.rows_total / seconds if seconds else 0,
                 f" ({outcome.reason}: {outcome.message})" if outcome.reason else "")
        fresh = await queries.get(self.pool, record["id"])
        if fresh is not None:
            await self._finalize(fresh)
        return outcome

    async def _fail(self, record: Any, message: str) -> Outcome:
        tmp = self.report_tmp(record)
        report = ReportWriter(tmp, 1)
        report.file_problem(message)
        report.close()
        outcome = Outcome(state="rejected", reason="FAILED", message=message, errors_sample=report.sample,
                          report_rows=report.lines)
        outcome.stored_path, outcome.report_path = self._place(record, "rejected", True)
        await queries.finish(self.pool, record["id"], **importer.fields_of(outcome))
        return outcome

    async def _close_stale(self, record: Any, reason: str, message: str) -> None:
        """An open record that will never be imported: rejected, nothing to move."""
        if record["state"] not in FINAL:
            outcome = Outcome(state="rejected", reason=reason, message=message)
            await queries.finish(self.pool, record["id"], **importer.fields_of(outcome))
        await queries.moved(self.pool, record["id"])
        log.info("lead import #%d closed: %s", record["id"], message)

    async def _duplicate(self, stream: Stream, file_name: str, rel: str, fmt: str, digest: str, size: int,
                         holder: Any) -> None:
        message = (f"the same content was imported before: import #{holder['id']} ({holder['file_name']}, "
                   f"{holder['state']}); nothing was imported")
        record = await queries.insert_duplicate(self.pool, stream=stream.name, source="folder", file_name=file_name,
                                                source_path=rel, file_format=fmt, content_hash=digest,
                                                size_bytes=size, duplicate_of=holder["id"], message=message)
        report = ReportWriter(self.report_tmp(record), 1)
        report.file_problem(message)
        report.close()
        outcome = Outcome(state="rejected", reason="DUPLICATE", message=message, errors_sample=report.sample,
                          report_rows=report.lines)
        outcome.stored_path, outcome.report_path = self._place(record, "rejected", True)
        await queries.finish(self.pool, record["id"], **importer.fields_of(outcome))
        log.info("lead file %s: duplicate of import #%d (import #%d)", rel, holder["id"], record["id"])
        fresh = await queries.get(self.pool, record["id"])
        if fresh is not None:
            await self._finalize(fresh)

    async def _finalize(self, record: Any) -> None:
        """Move the file and its report to where the record says; then the record says they are there."""
        if record["moved_at"] is not None:
            return
        if record["source"] != "cli" and record["stored_path"] and self.root is not None:
            source = absolute(self.root, record["source_path"])
            target = absolute(self.root, record["stored_path"])
            await asyncio.to_thread(_move, source, target)
        if record["report_path"]:
            await asyncio.to_thread(_move, self.report_tmp(record), absolute(self.root, record["report_path"]))
        await queries.moved(self.pool, record["id"])

    # ---- uploads and shell imports --------------------------------------------------------------------

    async def register_upload(self, *, stream: Stream, file_name: str, part: Path, digest: str, size: int,
                              created_by: int | None, actor: Actor | None = None) -> Any:
        """``part``: the upload written whole under .uploads/ (``*.part``). Queued for a worker; 409 when the
        same content was imported before (the part file is removed)."""
        assert self.root is not None
        final = part.with_suffix("")
        fmt = await asyncio.to_thread(file_format, part)
        async with self.pool.acquire() as conn, conn.transaction():
            record = await queries.insert(conn, stream=stream.name, source="upload", file_name=file_name,
                                          source_path=relative(self.root, final), file_format=fmt,
                                          content_hash=digest, size_bytes=size,
                                          import_valid_rows=stream.import_valid_rows, state="queued",
                                          created_by=created_by)
            if record is None:
                holder = await queries.holder_of_hash(conn, digest)
                await asyncio.to_thread(part.unlink, True)
                raise Conflict("The same file was imported before" if holder is None else
                               f"The same file was imported before: import #{holder['id']} ({holder['state']})",
                               code="DUPLICATE_FILE", field="file",
                               data={"importId": holder["id"] if holder is not None else None})
            if actor is not None:  # audited in the upload's transaction (lead_import.upload)
                await actor.record(conn, "lead_import.upload", "lead_import", record["id"], None,
                                   {"stream": stream.name, "fileName": file_name, "sizeBytes": size, "hash": digest})
            await asyncio.to_thread(part.rename, final)
        return record

    async def import_local(self, path: Path, stream: Stream, *, on_progress: Progress | None = None,
                           import_valid_rows: bool | None = None) -> tuple[Any, Outcome | None]:
        """Import a file from this machine's disk now (tm-admin import-leads); the file stays where it is and
        its report is written beside it. Raises Conflict when its content was imported before."""
        source_path = str(await asyncio.to_thread(path.resolve))
        async with self._locked(source_path) as conn:
            if conn is None:
                raise Conflict("This file is being imported by another process", code="IMPORT_RUNNING")
            digest, size = await asyncio.to_thread(sha256_of, path)
            fmt = await asyncio.to_thread(file_format, path)
            valid_rows = stream.import_valid_rows if import_valid_rows is None else import_valid_rows
            record = await queries.insert(conn, stream=stream.name, source="cli", file_name=path.name,
                                          source_path=source_path, file_format=fmt, content_hash=digest,
                                          size_bytes=size, import_valid_rows=valid_rows, state="importing")
            if record is None:
                holder = await queries.holder_of_hash(conn, digest)
                raise Conflict(f"The same content was imported before: import #{holder['id'] if holder else '?'} "
                               f"({holder['file_name'] if holder else ''}); nothing imported", code="DUPLICATE_FILE",
                               data={"importId": holder["id"] if holder else None})
            outcome = await self._run(conn, record, on_progress)
            return await queries.get(self.pool, record["id"]), outcome


def _move(source: Path, target: Path) -> None:
    if not source.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
