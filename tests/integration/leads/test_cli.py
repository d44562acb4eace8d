"""tm-admin gen-leads and import-leads, as a shell user runs them."""

from __future__ import annotations

import asyncio
import sys

from tests.harness import REPO, unique
from tests.integration.leads.helpers import read_report


async def cli(services, *args: str, **env: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backend.cli", *args, env={**services.web_env(), "COLUMNS": "200", **env}, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_generate_then_import_from_a_shell(services, tmp_path, db):
    path = tmp_path / (unique("shell-") + ".csv")
    code, out = await cli(services, "gen-leads", "3000", "--bad-fraction", "0.05", "--out", str(path),
                          "--encoding", "windows-1251", "--delimiter", ",")
    assert code == 0 and "wrote 3000 rows" in out, out

    code, out = await cli(services, "import-leads", str(path), "--stream", "mobile_loans")
    assert code == 1, out
    assert "rejected (BAD_ROWS)" in out and "3,000" in out and "windows-1251" in out
    report = read_report(path.with_name(path.name + ".errors.csv"))
    assert report and all(int(r["row"]) >= 2 for r in report[:-1] if r["row"])
    assert path.is_file()  # a shell import leaves the file where it is

    code, out = await cli(services, "import-leads", str(path), "--stream", "MOBILE_LOANS", "--import-valid-rows")
    assert code == 0 and "│ state" in out and "done" in out, out
    record = await db.fetchrow("SELECT * FROM lead_imports WHERE source_path = $1 AND state = 'done'",
                               str(path.resolve()))
    assert record["source"] == "cli" and record["rows_accepted"] == 3000 - record["rows_rejected"]
    assert await db.fetchval("SELECT count(*) FROM lead_snapshots WHERE import_id = $1", record["id"]) == \
        record["rows_accepted"]

    code, out = await cli(services, "import-leads", str(path), "--stream", "mobile_loans")
    assert code == 1 and f"imported before: import #{record['id']}" in out, out
    code, out = await cli(services, "import-leads", str(tmp_path / "missing.csv"), "--stream", "mobile_loans")
    assert code == 1 and "cannot read" in out
    code, out = await cli(services, "import-leads", str(path), "--stream", "nowhere")
    assert code == 1 and "unknown stream" in out


async def test_gen_leads_into_a_stream_folder(services, tmp_path):
    code, out = await cli(services, "gen-leads", "10", "--into-stream", "POS_REJECT", "--header", "en",
                          LEADS_DIR=str(tmp_path))
    assert code == 0, out
    files = list((tmp_path / "pos_reject").glob("*.csv"))
    assert len(files) == 1 and files[0].read_text().startswith("application_no;created_date;")
    assert (tmp_path / "pos_reject" / "success").is_dir() and (tmp_path / "mobile_loans" / "error").is_dir()
