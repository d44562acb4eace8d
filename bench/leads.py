"""Lead import throughput and memory: a generated 1,000,000-row file through format control into PostgreSQL.

Cases (each import runs in a fresh child process, so its peak RSS is its own):

* ``clean``      — every row valid: checked, COPYed, committed;
* ``bad-reject`` — 10 % bad rows, a stream that rejects such files whole (the seed's rule): every row checked
                   and every bad value reported, nothing imported;
* ``bad-valid``  — the same file in a stream that imports the valid rows (LEADS_IMPORT_VALID_ROWS);
* ``check-only`` — format control alone on the clean file (no database), for reference;
* ``python-check`` — the same checks written as plain Python per row (csv module, compiled regular
                   expressions, datetime), the road not taken, on the first 200,000 rows of the clean file.

Generated files are kept under .data/bench-leads/ (the same rows and seed, the same file) so that a rerun
measures the import, not the generator. Usage:

    .venv/bin/python -m bench.leads [--rows 1000000] [--cases clean,bad-reject,bad-valid,check-only] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datetime import UTC

from backend.core.db import init_connection
from backend.core.migrate import migrate
from backend.core.settings import Settings
from backend.leads import generate
from backend.leads.importer import Job, _Source
from backend.leads.service import LeadIntake
from backend.leads.streams import find
from bench.common import scratch_services
from tests.harness import REPO

FILES = REPO / ".data" / "bench-leads"
CASES = ("clean", "bad-reject", "bad-valid", "check-only", "python-check")


def data_file(rows: int, bad: float) -> Path:
    FILES.mkdir(parents=True, exist_ok=True)
    path = FILES / f"leads-{rows}-bad{int(bad * 100)}.csv"
    if not path.exists():
        started = time.monotonic()
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        generate.write_file(path, rows, bad_fraction=bad, seed=12 + int(bad * 100), start=10**12 + int(bad * 10**9))
        print(f"  {path.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return path


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def python_check(path: Path, limit: int) -> tuple[int, int]:
    """Format control as a careful pure-Python loop would do it: (rows, bad rows). Not used by the product."""
    import csv
    import re
    from datetime import date, datetime, timedelta, timezone

    from backend.leads.columns import (
        AMOUNT,
        CODE,
        COLUMNS,
        COUNT,
        DATE,
        ENUM,
        NUMBER,
        PHONE,
        PRODUCT_TYPES,
        TEXT,
        TIME,
    )

    moscow = timezone(timedelta(hours=3))
    res = {NUMBER: re.compile(r"[0-9]{1,18}"), DATE: re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})"),
           TIME: re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])"), PHONE: re.compile(r"7[0-9]{10}"),
           CODE: re.compile(r"[A-Za-z]{3}"), AMOUNT: re.compile(r"[0-9]{1,12}([.,][0-9]{1,2})?"),
           COUNT: re.compile(r"[0-9]{1,5}")}
    allowed = {c.code: frozenset(PRODUCT_TYPES if c.code == "product_type" else c.values) for c in COLUMNS}
    rows = bad = 0
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        next(reader)
        for row in reader:
            rows += 1
            if rows > limit:
                rows -= 1
                break
            errors = 0
            values: dict[str, object] = {}
            if len(row) != len(COLUMNS):
                bad += 1
                continue
            for column, raw in zip(COLUMNS, row, strict=True):
                value = raw.strip()
                if not value:
                    errors += column.required
                    continue
                kind = column.kind
                if kind == ENUM:
                    errors += value not in allowed[column.code]
                elif kind == TEXT:
                    errors += len(value) > column.max_len
                else:
                    match = res[kind].fullmatch(value)
                    if match is None:
                        errors += 1
                    elif kind == DATE:
                        try:
                            values[column.code] = date(int(match[3]), int(match[2]), int(match[1]))
                        except ValueError:
                            errors += 1
                    elif kind == TIME:
                        values[column.code] = (int(match[1]), int(match[2]), int(match[3]))
                    elif kind == AMOUNT:
                        whole, _, cents = value.replace(",", ".").partition(".")
                        values[column.code] = int(whole) * 100 + int(cents.ljust(2, "0") or 0)
                    elif kind in (NUMBER, COUNT):
                        values[column.code] = int(value)
            day, clock = values.get("changed_date"), values.get("changed_time")
            if isinstance(day, date) and isinstance(clock, tuple):
                datetime(day.year, day.month, day.day, *clock, tzinfo=moscow).astimezone(UTC)
            day, clock = values.get("created_date"), values.get("created_time")
            if isinstance(day, date) and isinstance(clock, tuple):
                datetime(day.year, day.month, day.day, *clock, tzinfo=moscow).astimezone(UTC)
            bad += errors > 0
    return rows, bad


async def child(args: argparse.Namespace) -> dict[str, object]:
    """One import in this process; prints its figures as JSON."""
    env = {"DATABASE_URL": args.database_url, "REDIS_URL": "redis://unused"}
    if args.case == "bad-valid":
        env["LEADS_IMPORT_VALID_ROWS"] = "MOBILE_LOANS"
    settings = Settings.from_env(env)
    path = Path(args.file)
    started = time.perf_counter()
    if args.case == "python-check":
        rows, bad = python_check(path, 200_000)
        seconds = time.perf_counter() - started
        return {"case": args.case, "rows": rows, "accepted": rows - bad, "rejected": bad, "state": "-",
                "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds), "max_rss_mib": round(rss_mib())}
    if args.case == "check-only":
        source = _Source(Job(0, "MOBILE_LOANS", path, "csv", False), settings)
        rows = bad = 0
        while (item := source.step()) is not None:
            rows += item[1].rows
            bad += item[1].bad_rows
        seconds = time.perf_counter() - started
        return {"case": args.case, "rows": rows, "accepted": rows - bad, "rejected": bad, "state": "-",
                "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds), "max_rss_mib": round(rss_mib())}
    pool = await asyncpg.create_pool(args.database_url, min_size=1, max_size=4, init=init_connection,
                                     server_settings={"timezone": "UTC"})
    stream = find(settings, "MOBILE_LOANS")
    assert stream is not None
    record, _ = await LeadIntake(pool, settings).import_local(path, stream)
    seconds = time.perf_counter() - started
    stored = await pool.fetchval("SELECT count(*) FROM lead_snapshots WHERE import_id = $1", record["id"])
    await pool.close()
    return {"case": args.case, "rows": record["rows_total"], "accepted": record["rows_accepted"],
            "rejected": record["rows_rejected"], "state": record["state"], "stored": stored,
            "report_lines": record["report_rows"], "seconds": round(seconds, 2),
            "rows_per_s": round(record["rows_total"] / seconds), "max_rss_mib": round(rss_mib())}


async def main(args: argparse.Namespace) -> None:
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    files = {"clean": data_file(args.rows, 0.0), "bad": data_file(args.rows, 0.1) if any(
        c.startswith("bad") for c in cases) else None}
    results = []
    load_before = os.getloadavg()
    async with scratch_services("bench") as services:
        conn = await asyncpg.connect(services.database_url)
        await migrate(conn)
        for case in cases:
            file = files["bad"] if case.startswith("bad") else files["clean"]
            await conn.execute("TRUNCATE lead_snapshots; DELETE FROM lead_imports")
            await conn.execute("CHECKPOINT")
            out = subprocess.run(
                [sys.executable, "-m", "bench.leads", "--child", case, "--file", str(file),
                 "--database-url", services.database_url], cwd=REPO, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise SystemExit(f"{case} failed:\n{out.stdout}\n{out.stderr}")
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        await conn.close()
    load_after = os.getloadavg()
    print("| case | rows | accepted | rejected | seconds | rows/s | max RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['rows']:,} | {r['accepted']:,} | {r['rejected']:,} | {r['seconds']} "
              f"| {r['rows_per_s']:,} | {r['max_rss_mib']} |")
    print(f"\nload average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {', '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "load_before": load_before,
                                               "load_after": load_after}, indent=2))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--json")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.child:
        arguments.case = arguments.child
        print(json.dumps(asyncio.run(child(arguments))))
    else:
        asyncio.run(main(arguments))
