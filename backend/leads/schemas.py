"""Wire formats of lead intake."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

ImportState = Literal["queued", "importing", "done", "rejected"]
ImportSource = Literal["folder", "upload", "cli"]


class RowsOut(msgspec.Struct, rename="camel"):
    total: int
    accepted: int
    rejected: int
    new_snapshots: int
    unchanged_snapshots: int


class ProgressOut(msgspec.Struct, rename="camel"):
    bytes_done: int
    bytes_total: int
    percent: float
    rows_done: int


class BadValueOut(msgspec.Struct):
    row: int | None
    column: str
    value: str
    reason: str


class ImportOut(msgspec.Struct, rename="camel"):
    id: int
    stream: str
    source: ImportSource
    file_name: str
    file_format: str
    content_hash: str
    size_bytes: int
    import_valid_rows: bool
    state: ImportState
    reason: str | None
    message: str | None
    duplicate_of: int | None
    encoding: str | None
    delimiter: str | None
    rows: RowsOut
    progress: ProgressOut
    errors_sample: list[BadValueOut]
    error_report_rows: int
    error_report_url: str | None
    stored_path: str | None
    attempts: int
    created_by: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportResponse(msgspec.Struct):
    data: ImportOut
    status: str = "OK"


class ImportPage(msgspec.Struct):
    items: list[ImportOut]
    total: int
    limit: int
    offset: int


class ImportListResponse(msgspec.Struct):
    data: ImportPage
    status: str = "OK"


class StreamOut(msgspec.Struct, rename="camel"):
    name: str
    folder: str
    import_valid_rows: bool


class StreamListResponse(msgspec.Struct):
    data: list[StreamOut]
    status: str = "OK"


def import_out(row: Any) -> ImportOut:
    done = row["state"] in ("done", "rejected")
    size = int(row["size_bytes"])
    bytes_done = size if done else min(int(row["bytes_done"]), size)
    return ImportOut(
        id=row["id"], stream=row["stream"], source=row["source"], file_name=row["file_name"],
        file_format=row["file_format"], content_hash=row["content_hash"], size_bytes=size,
        import_valid_rows=row["import_valid_rows"], state=row["state"], reason=row["reason"], message=row["message"],
        duplicate_of=row["duplicate_of"], encoding=row["encoding"], delimiter=row["delimiter"],
        rows=RowsOut(total=row["rows_total"], accepted=row["rows_accepted"], rejected=row["rows_rejected"],
                     new_snapshots=row["snapshots_new"], unchanged_snapshots=row["snapshots_unchanged"]),
        progress=ProgressOut(bytes_done=bytes_done, bytes_total=size,
                             percent=100.0 if done else round(100.0 * bytes_done / size, 1) if size else 0.0,
                             rows_done=row["rows_total"]),
        errors_sample=[msgspec.convert(e, BadValueOut) for e in row["errors_sample"] or []],
        error_report_rows=row["report_rows"],
        error_report_url=(f"/api/admin/v1/lead-imports/{row['id']}/errors.csv" if row["report_path"] else None),
        stored_path=row["stored_path"], attempts=row["attempts"], created_by=row["created_by"],
        created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
    )
