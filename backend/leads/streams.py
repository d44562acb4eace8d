"""Lead streams and their folders (seed 001 §2.6.1, figure 22): under LEADS_DIR one folder per stream, each
with ``success/`` and ``error/`` beside the incoming files; ``.uploads/`` holds files sent over HTTP until
they are imported, ``.work/`` error reports being written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.core.errors import BadRequest, ServiceUnavailable
from backend.core.settings import Settings

SUCCESS = "success"
ERROR = "error"
UPLOADS = ".uploads"
WORK = ".work"
REPORT_SUFFIX = ".errors.csv"
# A file still being written: never picked up.
PARTIAL_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")


@dataclass(frozen=True)
class Stream:
    name: str  # MOBILE_LOANS
    folder: str  # mobile_loans
    import_valid_rows: bool


def configured(settings: Settings) -> dict[str, Stream]:
    valid = set(settings.leads_import_valid_rows)
    streams: dict[str, Stream] = {}
    for item in settings.leads_streams:
        name, folder = item.split("=", 1)
        streams[name] = Stream(name, folder, name in valid)
    return streams


def find(settings: Settings, name: str) -> Stream | None:
    """By name (MOBILE_LOANS) or folder (mobile_loans), case-insensitively."""
    wanted = name.strip().lower()
    for stream in configured(settings).values():
        if wanted in (stream.name.lower(), stream.folder.lower()):
            return stream
    return None


def require(settings: Settings, name: str, field: str = "stream") -> Stream:
    stream = find(settings, name)
    if stream is None:
        known = ", ".join(s.name for s in configured(settings).values())
        raise BadRequest(f"Unknown stream {name[:64]!r}; streams: {known}", code="UNKNOWN_STREAM", field=field,
                         data={"streams": sorted(configured(settings))})
    return stream


def base(settings: Settings) -> Path | None:
    return Path(settings.leads_dir).resolve() if settings.leads_dir else None


def require_base(settings: Settings) -> Path:
    root = base(settings)
    if root is None:
        raise ServiceUnavailable("Lead intake is off: LEADS_DIR is not set", code="LEADS_DIR_NOT_SET")
    return root


def ensure_folders(root: Path, settings: Settings) -> None:
    for stream in configured(settings).values():
        for sub in (SUCCESS, ERROR):
            (root / stream.folder / sub).mkdir(parents=True, exist_ok=True)
    (root / UPLOADS).mkdir(parents=True, exist_ok=True)
    (root / WORK).mkdir(parents=True, exist_ok=True)


def absolute(root: Path | None, stored: str) -> Path:
    """Paths in import records are relative to LEADS_DIR, or absolute (files imported from a shell)."""
    path = Path(stored)
    if path.is_absolute() or root is None:
        return path
    return root / path


def relative(root: Path | None, path: Path) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


def free_name(folder: Path, name: str, import_id: int) -> Path:
    """``folder/name``, or ``folder/<stem>.<import id><suffix>`` when a file of that name is there already."""
    target = folder / name
    if not target.exists() and not (folder / (name + REPORT_SUFFIX)).exists():
        return target
    stem, dot, suffix = name.rpartition(".")
    return folder / (f"{stem}.{import_id}.{suffix}" if dot and stem else f"{name}.{import_id}")
