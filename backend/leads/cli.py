"""``tm-admin import-leads`` and ``tm-admin gen-leads``."""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from backend.core.errors import AppError
from backend.core.settings import Settings
from backend.leads import generate
from backend.leads.importer import Outcome
from backend.leads.service import LeadIntake
from backend.leads.streams import PARTIAL_SUFFIXES, base, ensure_folders, find


async def import_leads(pool: asyncpg.Pool, settings: Settings, args: argparse.Namespace) -> None:
    console = Console(stderr=True)
    logging.getLogger("backend.leads").setLevel(logging.WARNING)  # the table below says it all
    stream = find(settings, args.stream)
    if stream is None:
        raise SystemExit(f"unknown stream {args.stream!r}; streams: {', '.join(settings.leads_streams)}")
    path = Path(args.file)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise SystemExit(f"cannot read {path}: {exc.strerror}") from None
    intake = LeadIntake(pool, settings)
    started = time.monotonic()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                  TextColumn("{task.fields[rows]:>10,} rows, {task.fields[bad]:,} bad"), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=False) as progress:
        task = progress.add_task(path.name, total=size, rows=0, bad=0)

        def on_progress(out: Outcome) -> None:
            progress.update(task, completed=min(out.bytes_done, size), rows=out.rows_total, bad=out.rows_rejected)

        try:
            record, _ = await intake.import_local(path, stream, on_progress=on_progress,
                                                  import_valid_rows=True if args.import_valid_rows else None)
        except AppError as exc:
            progress.stop()
            raise SystemExit(f"not imported: {exc.message}") from None
        progress.update(task, completed=size)
    seconds = time.monotonic() - started
    Console().print(summary(record, seconds))
    if record["state"] != "done":
        raise SystemExit(1)


def summary(record: Any, seconds: float) -> Table:
    table = Table(title=f"lead import #{record['id']}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [("file", record["file_name"]), ("stream", record["stream"]),
            ("state", record["state"] + (f" ({record['reason']})" if record["reason"] else "")),
            ("rows", f"{record['rows_total']:,}"), ("accepted", f"{record['rows_accepted']:,}"),
            ("rejected", f"{record['rows_rejected']:,}"), ("new snapshots", f"{record['snapshots_new']:,}"),
            ("already known", f"{record['snapshots_unchanged']:,}"),
            ("encoding / delimiter", f"{record['encoding']} / {record['delimiter']!r}"),
            ("time", f"{seconds:.1f} s ({record['rows_total'] / seconds:,.0f} rows/s)" if seconds else "-")]
    if record["message"]:
        rows.append(("message", record["message"]))
    if record["report_path"]:
        rows.append(("error report", f"{record['report_path']} ({record['report_rows']:,} lines)"))
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def gen_leads(settings: Settings, args: argparse.Namespace) -> None:
    if args.count < 0 or not 0 <= args.bad_fraction <= 1:
        raise SystemExit("count must be >= 0 and --bad-fraction between 0 and 1")
    if args.into_stream:
        stream = find(settings, args.into_stream)
        root = base(settings)
        if stream is None or root is None:
            raise SystemExit("--into-stream needs LEADS_DIR and a stream of LEADS_STREAMS")
        ensure_folders(root, settings)
        path = root / stream.folder / (args.out or f"leads-{time.strftime('%Y%m%d-%H%M%S')}-{args.count}.csv")
    else:
        path = Path(args.out or f"leads-{args.count}.csv")
    if path.name.lower().endswith(PARTIAL_SUFFIXES):
        raise SystemExit("the file name must not end with .part or .tmp (the worker never picks those up)")
    size = generate.write_file(path, args.count, bad_fraction=args.bad_fraction, delimiter=args.delimiter,
                               encoding=args.encoding, header_style=args.header, seed=args.seed)
    print(f"wrote {args.count} rows ({size:,} bytes) to {path}")
