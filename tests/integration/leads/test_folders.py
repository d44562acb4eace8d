"""Lead files dropped into stream folders and imported by real worker processes against PostgreSQL: good and
bad files, duplicates, new snapshots, files still being written, bad input, kill -9 mid-import, two workers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.harness import unique
from tests.integration.leads.helpers import (
    CODES,
    FAST,
    csv_bytes,
    drop,
    lead_rows,
    moscow,
    read_report,
    wait_import,
    xlsx_bytes,
)


@pytest.fixture
def leads_dir(tmp_path):
    return tmp_path / "leads"


@pytest.fixture
def worker(start_web, leads_dir):
    def start(**overrides: str):
        return start_web(module="backend.worker", wait=None, LEADS_DIR=str(leads_dir), **{**FAST, **overrides})
    return start


async def snapshots(db, import_id: int) -> int:
    return int(await db.fetchval("SELECT count(*) FROM lead_snapshots WHERE import_id = $1", import_id))


async def test_good_file_bad_file_and_the_same_file_again(db, worker, leads_dir):
    worker()
    incoming = leads_dir / "mobile_loans"
    good = unique("good-") + ".csv"
    data = csv_bytes(lead_rows(500))
    drop(incoming, good, data)
    record = await wait_import(db, good)
    assert (record["state"], record["stream"], record["source"]) == ("done", "MOBILE_LOANS", "folder")
    assert (record["rows_total"], record["rows_accepted"], record["rows_rejected"]) == (500, 500, 0)
    assert record["snapshots_new"] == 500 and await snapshots(db, record["id"]) == 500
    assert record["encoding"] == "utf-8" and record["delimiter"] == ";" and record["report_path"] is None
    assert (incoming / "success" / good).is_file() and not (incoming / good).exists()
    assert record["started_at"] <= record["finished_at"]

    bad = unique("bad-") + ".csv"
    rows = lead_rows(300, bad_fraction=0.2)
    drop(incoming, bad, csv_bytes(rows))
    record = await wait_import(db, bad)
    assert (record["state"], record["reason"]) == ("rejected", "BAD_ROWS")
    assert record["rows_total"] == 300 and 20 < record["rows_rejected"] < 110
    assert record["rows_accepted"] == 0 and await snapshots(db, record["id"]) == 0  # nothing of it imported
    assert (incoming / "error" / bad).is_file()
    report = read_report(incoming / "error" / (bad + ".errors.csv"))
    assert record["report_path"] == f"mobile_loans/error/{bad}.errors.csv"
    assert len({r["row"] for r in report}) == record["rows_rejected"]  # every bad row, not only the first
    assert {r["reason"] for r in report} >= {"not a phone: 11 digits, the first 7, no +"}
    assert all(r["row"].isdigit() and 2 <= int(r["row"]) <= 301 for r in report)
    assert len(json.loads(record["errors_sample"])) == 20

    again = unique("again-") + ".csv"
    drop(incoming, again, data)
    record = await wait_import(db, again)
    first = await db.fetchrow("SELECT id FROM lead_imports WHERE file_name = $1", good)
    assert (record["state"], record["reason"], record["duplicate_of"]) == ("rejected", "DUPLICATE", first["id"])
    assert f"import #{first['id']}" in record["message"] and await snapshots(db, record["id"]) == 0
    assert (incoming / "error" / again).is_file()
    assert "the same content was imported before" in read_report(incoming / "error" / (again + ".errors.csv"))[0][
        "reason"]


async def test_a_stream_may_import_the_valid_rows_of_a_bad_file(db, worker, leads_dir):
    worker(LEADS_IMPORT_VALID_ROWS="POS_REJECT")
    name = unique("mixed-") + ".csv"
    drop(leads_dir / "pos_reject", name, csv_bytes(lead_rows(400, bad_fraction=0.1), delimiter=",",
                                                   encoding="windows-1251"))
    record = await wait_import(db, name)
    assert (record["state"], record["stream"], record["encoding"], record["delimiter"]) == \
        ("done", "POS_REJECT", "windows-1251", ",")
    assert record["rows_rejected"] > 0 and record["rows_accepted"] == 400 - record["rows_rejected"]
    assert await snapshots(db, record["id"]) == record["rows_accepted"]
    assert (leads_dir / "pos_reject" / "success" / name).is_file()
    assert len(read_report(leads_dir / "pos_reject" / "success" / (name + ".errors.csv"))) >= record["rows_rejected"]


async def test_a_newer_change_is_a_new_snapshot_and_the_same_one_is_not(db, worker, leads_dir):
    worker()
    now = datetime.now(UTC) - timedelta(days=1)
    x, y = lead_rows(2, now=now)
    first = unique("snap1-") + ".csv"
    drop(leads_dir / "mobile_loans", first, csv_bytes([x, y]))
    assert (await wait_import(db, first))["snapshots_new"] == 2

    newer = list(x)
    changed = datetime.strptime(f"{x[CODES.index('changed_date')]} {x[CODES.index('changed_time')]}",
                                "%d.%m.%Y %H:%M:%S") + timedelta(minutes=5)
    newer[CODES.index("changed_date")] = f"{changed:%d.%m.%Y}"
    newer[CODES.index("changed_time")] = f"{changed:%H:%M:%S}"
    newer[CODES.index("application_status")], newer[CODES.index("scoring_result")] = "canceled", ""
    second = unique("snap2-") + ".csv"
    drop(leads_dir / "mobile_loans", second, csv_bytes([newer, y]))
    record = await wait_import(db, second)
    assert (record["state"], record["snapshots_new"], record["snapshots_unchanged"]) == ("done", 1, 1)
    history = await db.fetch("""SELECT application_status, import_id FROM lead_snapshots WHERE application_no = $1
                                 ORDER BY changed_at""", int(x[0]))
    assert [h["application_status"] for h in history] == [x[CODES.index("application_status")], "canceled"]
    assert await db.fetchval("SELECT count(*) FROM lead_snapshots WHERE application_no = $1", int(y[0])) == 1


async def test_files_still_being_written_are_left_until_complete(db, worker, leads_dir):
    worker()
    incoming = leads_dir / "mobile_loans"
    incoming.mkdir(parents=True)
    data = csv_bytes(lead_rows(3000))
    part = incoming / (unique("late-") + ".csv.part")
    part.write_bytes(csv_bytes(lead_rows(100)))
    growing = incoming / (unique("growing-") + ".csv")
    with growing.open("wb") as out:
        step = len(data) // 12
        for i in range(12):  # a slow producer: a piece every 0.2 s, never quiet for LEADS_STABLE_SECONDS
            out.write(data[i * step:(i + 1) * step])
            out.flush()
            await asyncio.sleep(0.2)
        out.write(data[12 * step:])
    record = await wait_import(db, growing.name)
    assert (record["state"], record["rows_total"], record["rows_accepted"]) == ("done", 3000, 3000)
    assert await db.fetchval("SELECT count(*) FROM lead_imports WHERE file_name = $1", growing.name) == 1

    await asyncio.sleep(1.5)
    assert await db.fetchval("SELECT count(*) FROM lead_imports WHERE file_name LIKE $1", part.name[:-5] + "%") == 0
    part.rename(part.with_suffix(""))
    assert (await wait_import(db, part.with_suffix("").name))["state"] == "done"


async def test_bad_input_never_crashes_the_worker(db, worker, leads_dir):
    proc = worker(LEADS_MAX_FILE_BYTES="200000")
    incoming = leads_dir / "mobile_loans"
    good_rows = lead_rows(3)
    header = csv_bytes([])
    wide = ";".join(["x"] * 500)
    cases = {
        "binary": (os.urandom(5000).replace(b"\n", b"") + b"\x00" * 100, "NOT_CSV", "binary"),
        "empty": (b"", "EMPTY", "the file is empty"),
        "header-only": (header, "NO_ROWS", "no rows"),
        "huge": (csv_bytes(lead_rows(1000)), "TOO_LARGE", "LEADS_MAX_FILE_BYTES"),
        "wide-row": (header + wide.encode() + b"\n" + csv_bytes(good_rows)[len(header):], "BAD_ROWS",
                     "500 fields where the header has 31"),
        "nul-bytes": (header + ";".join(good_rows[0]).encode().replace(b";", b";\x00", 3) + b"\n", "BAD_ROWS",
                      "NUL byte"),
        "mixed-encodings": (csv_bytes(good_rows[:1]) + csv_bytes(good_rows[1:], encoding="windows-1251")[len(
            csv_bytes([], encoding="windows-1251")):], "BAD_ROWS", "mixed encodings"),
        "utf16": ("\ufeff".encode("utf-16-le") + ";".join(CODES).encode("utf-16-le"), "ENCODING", "UTF-16"),
        "no-header": (csv_bytes(good_rows)[len(header):], "HEADER", "not a header"),
    }
    names = {}
    for case, (data, _, _) in cases.items():
        names[case] = unique(case + "-") + ".csv"
        drop(incoming, names[case], data)
    for case, (_, reason, words) in cases.items():
        record = await wait_import(db, names[case])
        assert (record["state"], record["reason"]) == ("rejected", reason), (case, dict(record))
        report = read_report(incoming / "error" / (names[case] + ".errors.csv"))
        assert any(words in r["reason"] for r in report), (case, report)
        assert (incoming / "error" / names[case]).is_file()
    ok = unique("after-") + ".csv"
    drop(incoming, ok, csv_bytes(lead_rows(5)))
    assert (await wait_import(db, ok))["state"] == "done"
    assert proc.proc.poll() is None  # the worker is alive
    assert "Traceback" not in proc.log_path.read_text()


async def test_kill_9_mid_import_then_restart_imports_exactly_once(db, worker, leads_dir):
    """The worker is held mid-import (its COPY waits on a row this test is inserting, uncommitted, with the key
    of line 40,002) and killed with SIGKILL there; a new worker imports the file exactly once."""
    first = worker(LEADS_BATCH_ROWS="1000")
    name = unique("big-") + ".csv"
    rows = lead_rows(60000)
    blocker = rows[40000]
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute(
            """INSERT INTO lead_snapshots (import_id, line_no, stream, application_no, created_at, changed_at,
                                           application_status, client_type, phone)
               VALUES (0, 0, 'TEST', $1, $2, $2, 'created', 'pioneer', '79990000000')""",
            int(blocker[0]), moscow(blocker[CODES.index("changed_date")], blocker[CODES.index("changed_time")]))
        drop(leads_dir / "mobile_loans", name, csv_bytes(rows))
        deadline = time.monotonic() + 60
        while not await db.fetchval("""SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                                          AND query LIKE 'COPY %lead_snapshots%'"""):
            assert time.monotonic() < deadline, "the import never reached the held row"
            await asyncio.sleep(0.05)
        record = await db.fetchrow("SELECT * FROM lead_imports WHERE file_name = $1", name)
        assert record["state"] == "importing"
        first.kill()  # SIGKILL mid-import: 40 chunks written, uncommitted; no shutdown handlers run
        await tx.rollback()
    import_id = record["id"]
    assert await snapshots(db, import_id) == 0  # its transaction died with it
    assert (leads_dir / "mobile_loans" / name).is_file()

    worker()
    record = await wait_import(db, name, timeout=120)
    assert record["id"] == import_id and record["state"] == "done" and record["attempts"] == 2
    assert record["rows_accepted"] == 60000 and await snapshots(db, import_id) == 60000
    assert await db.fetchval("SELECT count(*) FROM lead_imports WHERE content_hash = $1", record["content_hash"]) == 1
    assert (leads_dir / "mobile_loans" / "success" / name).is_file()
    assert not (leads_dir / "mobile_loans" / name).exists()


async def test_a_crash_between_commit_and_move_is_finished_on_restart(db, worker, leads_dir):
    """The window after the outcome is committed and before the file is moved: the next pass moves it."""
    proc = worker()
    name = unique("moved-") + ".csv"
    drop(leads_dir / "mobile_loans", name, csv_bytes(lead_rows(50)))
    record = await wait_import(db, name)
    proc.stop()
    shutil.move(leads_dir / "mobile_loans" / "success" / name, leads_dir / "mobile_loans" / name)  # as if not moved
    await db.execute("UPDATE lead_imports SET moved_at = NULL WHERE id = $1", record["id"])
    worker()
    again = await wait_import(db, name)
    assert again["id"] == record["id"] and again["attempts"] == 1  # not imported again, only moved
    assert (leads_dir / "mobile_loans" / "success" / name).is_file()
    assert await snapshots(db, record["id"]) == 50


async def test_the_oldest_file_first(db, worker, leads_dir):
    incoming = leads_dir / "mobile_loans"
    names = [unique(f"order{i}-") + ".csv" for i in range(3)]
    for age, name in zip((10, 30, 20), names, strict=True):
        path = drop(incoming, name, csv_bytes(lead_rows(20)))
        os.utime(path, (time.time() - age, time.time() - age))
    worker()
    records = [await wait_import(db, name) for name in names]
    assert [r["id"] for r in sorted(records, key=lambda r: r["id"])] == [records[1]["id"], records[2]["id"],
                                                                        records[0]["id"]]


async def test_two_workers_import_each_file_once(db, worker, leads_dir):
    incoming = leads_dir / "mobile_loans"
    names = [unique(f"pair{i}-") + ".csv" for i in range(6)]
    for i, name in enumerate(names):
        path = drop(incoming, name, csv_bytes(lead_rows(2000)))
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    worker()
    worker()
    records = [await wait_import(db, name) for name in names]
    assert all(r["state"] == "done" and r["rows_accepted"] == 2000 for r in records)
    for r in records:
        assert await db.fetchval("SELECT count(*) FROM lead_imports WHERE content_hash = $1", r["content_hash"]) == 1
        assert await snapshots(db, r["id"]) == 2000
    assert sorted(os.listdir(incoming / "success")) == sorted(names)


async def test_an_application_repeated_within_a_file(db, worker, leads_dir):
    """Across chunks (LEADS_BATCH_ROWS=100): the same snapshot twice is stored once; a newer change of the same
    application later in the file is a snapshot of its own."""
    worker(LEADS_BATCH_ROWS="100")
    rows = lead_rows(300, now=datetime.now(UTC) - timedelta(days=1))
    rows[250] = list(rows[5])
    newer = list(rows[6])
    changed = datetime.strptime(f"{newer[CODES.index('changed_date')]} {newer[CODES.index('changed_time')]}",
                                "%d.%m.%Y %H:%M:%S") + timedelta(seconds=30)
    newer[CODES.index("changed_date")] = f"{changed:%d.%m.%Y}"
    newer[CODES.index("changed_time")] = f"{changed:%H:%M:%S}"
    rows[260] = newer
    name = unique("repeats-") + ".csv"
    drop(leads_dir / "mobile_loans", name, csv_bytes(rows))
    record = await wait_import(db, name)
    assert (record["state"], record["snapshots_new"], record["snapshots_unchanged"]) == ("done", 299, 1)
    assert await db.fetchval("SELECT count(*) FROM lead_snapshots WHERE application_no = $1", int(newer[0])) == 2


async def test_an_xlsx_file_dropped_into_a_folder(db, worker, leads_dir):
    worker()
    name = unique("sheet-") + ".xlsx"
    drop(leads_dir / "pos_reject", name, xlsx_bytes([list(r) for r in lead_rows(25)], header="en"))
    record = await wait_import(db, name)
    assert (record["state"], record["file_format"], record["rows_accepted"]) == ("done", "xlsx", 25)
    assert (leads_dir / "pos_reject" / "success" / name).is_file()
