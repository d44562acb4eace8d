"""Admin API of lead intake (supervisors and admins): upload a lead file, follow its import, download its
error report, list imports."""

from __future__ import annotations

import asyncio
import hashlib
import re
import typing
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import asyncpg
import msgspec
import multipart
from litestar import Controller, Request, Response, get, post
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, Parameter, QueryParameter
from litestar.response import File

from backend.auth.audit import actor_of
from backend.auth.guards import LEADS_IMPORT
from backend.auth.service import Principal
from backend.core.errors import BadRequest, NotFound, PayloadTooLarge
from backend.core.openapi import errors
from backend.core.settings import Settings
from backend.core.types import BIGINT_MAX, AwareDatetime, Str, check_datetime
from backend.leads import queries
from backend.leads.schemas import (
    ImportListResponse,
    ImportPage,
    ImportResponse,
    ImportSource,
    ImportState,
    StreamListResponse,
    StreamOut,
    import_out,
)
from backend.leads.service import LeadIntake
from backend.leads.streams import UPLOADS, absolute, configured, require, require_base

ImportId = FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]]
ENVELOPE = 64 * 1024  # multipart headers and the stream field around the file
_NAME_BAD = re.compile(r"[\x00-\x1f\x7f/\\]")


def _state(request: Request[Any, Any, Any]) -> tuple[asyncpg.Pool, Settings, LeadIntake]:
    state = request.app.state
    return state.pool, state.settings, state.leads


def _file_name(raw: str | None) -> str:
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _NAME_BAD.sub("_", name).strip(" .")[:200]
    if not name:
        raise BadRequest("The file part needs a file name", code="FILE_NAME_REQUIRED", field="file")
    return name


class _Upload:
    """The multipart body read as it arrives: the file part streamed to disk (hashed on the way), the small
    fields kept."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.part = folder / f"{uuid.uuid4().hex}.part"
        self.limit = limit
        self.size = 0
        self.digest = hashlib.sha256()
        self.file_name: str | None = None
        self.fields: dict[str, bytearray] = {}
        self._out: BinaryIO | None = None
        self._current: str | None = None

    async def feed(self, result: Any) -> None:
        if isinstance(result, multipart.MultipartSegment):
            if result.name == "file" and result.filename is not None:
                if self.file_name is not None:
                    raise BadRequest("Send one file per import", code="ONE_FILE", field="file")
                self.file_name = _file_name(result.filename)
                self._out = await asyncio.to_thread(self.part.open, "wb")
                self._current = "file"
            else:
                self._current = result.name or ""
                self.fields.setdefault(self._current, bytearray())
        elif result:
            if self._current == "file" and self._out is not None:
                self.size += len(result)
                if self.size > self.limit:
                    raise PayloadTooLarge(f"The file is larger than {self.limit} bytes (LEADS_UPLOAD_MAX_BYTES)",
                                          field="file", data={"limit": self.limit})
                self.digest.update(result)
                await asyncio.to_thread(self._out.write, result)
            elif self._current is not None:
                buffer = self.fields[self._current]
                if len(buffer) + len(result) > 1024:
                    raise BadRequest(f"The field {self._current[:32]!r} is too long", field=self._current[:32])
                buffer += result
        else:
            await self.close()

    async def close(self) -> None:
        if self._out is not None:
            await asyncio.to_thread(self._out.close)
            self._out = None
        self._current = None

    async def discard(self) -> None:
        await self.close()
        await asyncio.to_thread(self.part.unlink, True)

    def text(self, name: str) -> str | None:
        raw = self.fields.get(name)
        if raw is None:
            return None
        try:
            value = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise BadRequest("Must be UTF-8 text", field=name) from None
        if "\x00" in value:
            raise BadRequest("Text must not contain NUL characters", field=name)
        return value


def _one_of(value: str | None, kind: Any, field: str) -> str | None:
    if value is None:
        return None
    allowed = typing.get_args(kind)
    if value not in allowed:
        raise BadRequest(f"Must be one of: {', '.join(allowed)}", field=field)
    return value


def _moment(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 time with its zone, within the sane range of core.types."""
    if value is None:
        return None
    try:
        moment = msgspec.convert(value, AwareDatetime)
        check_datetime(moment, field)
    except (msgspec.ValidationError, ValueError) as exc:
        message = str(exc).split(" - at ")[0]
        if "timezone" in message.lower() or "Invalid" in message:
            message = "Must be an ISO 8601 time with a zone, e.g. 2024-06-01T00:00:00+03:00"
        raise BadRequest(message, field=field) from None
    return moment


NOT_FOUND = {404: "IMPORT_NOT_FOUND: no such import"}


@dataclass
class _UploadOperation(Operation):
    """The upload reads its body as a stream (never whole in memory), so Litestar cannot see it: the
    multipart form is documented here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, content={"multipart/form-data": OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.OBJECT, required=["stream", "file"], properties={
                "stream": Schema(type=OpenAPIType.STRING, max_length=64,
                                 description="MOBILE_LOANS or POS_REJECT (or the folder name: mobile_loans)"),
                "file": Schema(type=OpenAPIType.STRING, content_media_type="application/octet-stream",
                               description="The CSV (UTF-8 or Windows-1251, ; or ,) or XLSX file"),
            }))})


class LeadImportsController(Controller):
    path = "/api/admin/v1/lead-imports"
    tags = ["lead intake"]
    guards = [LEADS_IMPORT]

    @post("/", status_code=202, request_max_body_size=None, operation_class=_UploadOperation,
          responses=errors({400: "VALIDATION_ERROR, UNKNOWN_STREAM, MULTIPART_REQUIRED, MALFORMED_MULTIPART, "
                                 "EMPTY_FILE or FILE_NAME_REQUIRED (with the field at fault)",
                            409: "DUPLICATE_FILE: the same content was imported before (data.importId)",
                            413: "PAYLOAD_TOO_LARGE: the file exceeds LEADS_UPLOAD_MAX_BYTES"}),
          summary="Upload a lead file (multipart: `stream`, `file` — CSV or XLSX); answers at once with the import")
    async def upload(self, request: Request[Principal, Any, Any]) -> ImportResponse:
        _, settings, leads = _state(request)
        root = require_base(settings)
        limit = settings.leads_upload_max_bytes
        announced = request.headers.get("content-length")
        if announced and announced.isdigit() and int(announced) > limit + ENVELOPE:
            raise PayloadTooLarge(f"The file is larger than {limit} bytes (LEADS_UPLOAD_MAX_BYTES)", field="file",
                                  data={"limit": limit})
        content_type, options = multipart.parse_options_header(request.headers.get("content-type", ""))
        if content_type != "multipart/form-data" or not options.get("boundary"):
            raise BadRequest("Send the file as multipart/form-data with the fields stream and file",
                             code="MULTIPART_REQUIRED", field="file")
        folder = root / UPLOADS
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        upload = _Upload(folder, limit)
        try:
            try:
                with multipart.PushMultipartParser(options["boundary"], max_segment_count=8,
                                                   max_header_size=4096) as parser:
                    async for chunk in request.stream():
                        if upload.size + len(chunk) > limit + ENVELOPE:
                            raise PayloadTooLarge(f"The file is larger than {limit} bytes (LEADS_UPLOAD_MAX_BYTES)",
                                                  field="file", data={"limit": limit})
                        for result in parser.parse(chunk):
                            await upload.feed(result)
            except multipart.MultipartError as exc:
                raise BadRequest(f"Malformed multipart body: {exc}"[:200], code="MALFORMED_MULTIPART",
                                 field="file") from None
            await upload.close()
            stream_name = upload.text("stream")
            if not stream_name:
                raise BadRequest("Which stream: the field stream is required (e.g. MOBILE_LOANS)", field="stream")
            stream = require(settings, stream_name)
            if upload.file_name is None:
                raise BadRequest("The field file (a CSV or XLSX file) is required", field="file")
            if upload.size == 0:
                raise BadRequest("The file is empty", code="EMPTY_FILE", field="file")
            record = await leads.register_upload(stream=stream, file_name=upload.file_name, part=upload.part,
                                                 digest=upload.digest.hexdigest(), size=upload.size,
                                                 created_by=request.user.operator_id, actor=actor_of(request))
        except BaseException:
            await upload.discard()
            raise
        return ImportResponse(import_out(record))

    @get("/", summary="Imports, newest first, with paging and filters (stream, state, source, createdFrom, createdTo)")
    async def list_imports(
        self, request: Request[Any, Any, Any],
        stream: FromQuery[Annotated[Str, Parameter(max_length=64)] | None] = None,
        import_state: Annotated[Str | None, QueryParameter(name="state", max_length=16)] = None,
        source: FromQuery[Annotated[Str | None, Parameter(max_length=16)]] = None,
        created_from: Annotated[Str | None, QueryParameter(name="createdFrom", max_length=64)] = None,
        created_to: Annotated[Str | None, QueryParameter(name="createdTo", max_length=64)] = None,
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=500)]] = 50,
        offset: FromQuery[Annotated[int, Parameter(ge=0, le=BIGINT_MAX)]] = 0,
    ) -> ImportListResponse:
        pool, settings, _ = _state(request)
        state = _one_of(import_state, ImportState, "state")
        kind = _one_of(source, ImportSource, "source")
        since, until = _moment(created_from, "createdFrom"), _moment(created_to, "createdTo")
        stream_name = require(settings, stream).name if stream else None
        total, rows = await queries.listing(pool, stream=stream_name, state=state, source=kind, created_from=since,
                                            created_to=until, limit=limit, offset=offset)
        return ImportListResponse(ImportPage([import_out(r) for r in rows], total, limit, offset))

    @get("/{import_id:int}", summary="One import: state, progress (rows and bytes done), outcome",
         responses=errors(NOT_FOUND))
    async def get_import(self, request: Request[Any, Any, Any], import_id: ImportId) -> ImportResponse:
        pool, _, _ = _state(request)
        row = await queries.get(pool, import_id)
        if row is None:
            raise NotFound("No such import", code="IMPORT_NOT_FOUND", field="importId")
        return ImportResponse(import_out(row))

    @get("/{import_id:int}/errors.csv", summary="The import's error report: row;column;value;reason",
         media_type="text/csv",
         responses=errors({404: "IMPORT_NOT_FOUND (no such import) or NO_ERROR_REPORT (the import has none)"}))
    async def error_report(self, request: Request[Any, Any, Any], import_id: ImportId) -> Response[Any]:
        pool, _, leads = _state(request)
        row = await queries.get(pool, import_id)
        if row is None:
            raise NotFound("No such import", code="IMPORT_NOT_FOUND", field="importId")
        if not row["report_path"]:
            raise NotFound("This import has no error report", code="NO_ERROR_REPORT", field="importId")
        final = absolute(leads.root, row["report_path"])
        # Not moved yet: where it is being written — or already where it goes, if the move (a rename, done
        # before the record says so) came after the row was read.
        for path in (final,) if row["moved_at"] is not None else (leads.report_tmp(row), final):
            if await asyncio.to_thread(path.is_file):
                return File(path=path, filename=f"{row['file_name']}.errors.csv",
                            media_type="text/csv; charset=utf-8")
        raise NotFound("The error report file is not there (moved or deleted)", code="NO_ERROR_REPORT",
                       field="importId")


class LeadStreamsController(Controller):
    path = "/api/admin/v1/lead-streams"
    tags = ["lead intake"]
    guards = [LEADS_IMPORT]

    @get("/", summary="The configured lead streams")
    async def list_streams(self, request: Request[Any, Any, Any]) -> StreamListResponse:
        settings: Settings = request.app.state.settings
        return StreamListResponse([StreamOut(s.name, s.folder, s.import_valid_rows)
                                   for s in configured(settings).values()])

