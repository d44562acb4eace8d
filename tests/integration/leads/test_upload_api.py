"""The upload API over HTTP: a real web process streams the file to LEADS_DIR, a real worker imports it;
progress, outcome, error report, listing, XLSX, and every refusal at the edge."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.leads.helpers import CODES, FAST, csv_bytes, lead_rows, read_report, xlsx_bytes

LIMIT = 2_000_000  # above the app's 1 MiB body limit: the upload route has its own


@pytest.fixture
async def stack(start_web, tmp_path, make_user, http):
    leads_dir = tmp_path / "leads"
    web = start_web(LEADS_DIR=str(leads_dir), LEADS_UPLOAD_MAX_BYTES=str(LIMIT))
    start_web(module="backend.worker", wait=None, LEADS_DIR=str(leads_dir), **FAST)
    supervisor = await make_user("supervisor")
    token = await login(http, web.url, supervisor)
    return web.url, bearer(token), leads_dir, supervisor


async def upload(http, url, headers, name, data, stream="MOBILE_LOANS", content_type="text/csv"):
    files = {"file": (name, data, content_type)}
    return await http.post(f"{url}/api/admin/v1/lead-imports", headers=headers, files=files,
                           data={"stream": stream} if stream is not None else {})


async def finished(http, url, headers, import_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get(f"{url}/api/admin/v1/lead-imports/{import_id}", headers=headers)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        if data["state"] in ("done", "rejected") and data["storedPath"]:
            return data
        assert time.monotonic() < deadline, data
        await asyncio.sleep(0.1)


async def test_upload_csv_follow_progress_and_list(http, stack, db):
    url, headers, leads_dir, supervisor = stack
    name = unique("upload-") + ".csv"
    data = csv_bytes(lead_rows(5000))
    assert len(data) > 1_048_576
    r = await upload(http, url, headers, name, data)
    assert r.status_code == 202, r.text
    created = r.json()["data"]
    assert (created["state"], created["source"], created["fileName"], created["stream"]) == \
        ("queued", "upload", name, "MOBILE_LOANS")
    assert created["createdBy"] == supervisor.id and created["progress"]["bytesTotal"] == created["sizeBytes"]
    audited = await db.fetchrow("SELECT actor_id, action, after::text FROM audit_log WHERE target_type = 'lead_import' "
                                "AND target_id = $1", str(created["id"]))
    assert (audited["actor_id"], audited["action"]) == (supervisor.id, "lead_import.upload")
    assert name in audited["after"]
    done = await finished(http, url, headers, created["id"])
    assert done["state"] == "done" and done["rows"] == {"total": 5000, "accepted": 5000, "rejected": 0,
                                                        "newSnapshots": 5000, "unchangedSnapshots": 0}
    assert done["progress"]["percent"] == 100.0 and done["progress"]["rowsDone"] == 5000
    assert done["errorReportUrl"] is None and done["storedPath"] == f"mobile_loans/success/{name}"
    assert (leads_dir / "mobile_loans" / "success" / name).is_file()
    assert not list((leads_dir / ".uploads").iterdir())
    r = await http.get(f"{url}{'/api/admin/v1/lead-imports'}/{created['id']}/errors.csv", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NO_ERROR_REPORT"

    base = f"{url}/api/admin/v1/lead-imports"
    r = await http.get(base, headers=headers, params={"stream": "mobile_loans", "state": "done", "source": "upload",
                                                      "limit": 50})
    assert r.status_code == 200, r.text
    page = r.json()["data"]
    assert created["id"] in [i["id"] for i in page["items"]] and page["limit"] == 50
    assert all(i["state"] == "done" and i["source"] == "upload" for i in page["items"])
    r = await http.get(base, headers=headers, params={"state": "rejected", "createdFrom": "2000-01-01T00:00:00Z"})
    assert created["id"] not in [i["id"] for i in r.json()["data"]["items"]]
    r = await http.get(base, headers=headers, params={"limit": 1, "offset": 0})
    assert len(r.json()["data"]["items"]) == 1 and r.json()["data"]["total"] >= 1
    r = await http.get(f"{url}/api/admin/v1/lead-streams", headers=headers)
    assert [s["name"] for s in r.json()["data"]] == ["MOBILE_LOANS", "POS_REJECT"]


async def test_a_bad_upload_is_rejected_with_a_downloadable_report(http, stack, db):
    url, headers, leads_dir, _ = stack
    name = unique("bad-upload-") + ".csv"
    r = await upload(http, url, headers, name, csv_bytes(lead_rows(200, bad_fraction=0.25)), stream="pos_reject")
    assert r.status_code == 202, r.text
    done = await finished(http, url, headers, r.json()["data"]["id"])
    assert (done["state"], done["reason"], done["stream"]) == ("rejected", "BAD_ROWS", "POS_REJECT")
    assert done["rows"]["accepted"] == 0 and done["rows"]["rejected"] > 10
    assert done["errorsSample"][0]["row"] >= 2 and done["errorsSample"][0]["reason"]
    r = await http.get(f"{url}{done['errorReportUrl']}", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f'{name}.errors.csv' in r.headers["content-disposition"]
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "row;column;value;reason" and len(lines) - 1 == done["errorReportRows"]
    assert read_report(leads_dir / "pos_reject" / "error" / f"{name}.errors.csv")[0]["row"] == lines[1].split(";")[0]


async def test_upload_xlsx(http, stack):
    url, headers, _, _ = stack
    rows: list[list[object]] = [list(r) for r in lead_rows(40)]
    for row in rows:  # numbers as spreadsheets hold them
        row[CODES.index("phone")] = float(row[CODES.index("phone")])
        row[CODES.index("application_no")] = int(row[CODES.index("application_no")])
        row[CODES.index("requested_amount")] = int(row[CODES.index("requested_amount")])
    rows[5][CODES.index("phone")] = "12345"
    name = unique("sheet-") + ".xlsx"
    r = await upload(http, url, headers, name, xlsx_bytes(rows),
                     content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert r.status_code == 202, r.text
    assert r.json()["data"]["fileFormat"] == "xlsx"
    done = await finished(http, url, headers, r.json()["data"]["id"])
    assert (done["state"], done["reason"], done["rows"]["total"], done["rows"]["rejected"]) == \
        ("rejected", "BAD_ROWS", 40, 1)
    assert done["errorsSample"] == [{"row": 7, "column": "2.2 Номер телефона", "value": "12345",
                                     "reason": "not a phone: 11 digits, the first 7, no +"}]
    del rows[5]
    r = await upload(http, url, headers, unique("sheet-") + ".xlsx", xlsx_bytes(rows))
    done = await finished(http, url, headers, r.json()["data"]["id"])
    assert (done["state"], done["rows"]["accepted"], done["encoding"]) == ("done", 39, "xlsx")
    r = await upload(http, url, headers, unique("broken-") + ".xlsx", b"PK\x03\x04 not really a workbook")
    done = await finished(http, url, headers, r.json()["data"]["id"])
    assert (done["state"], done["reason"]) == ("rejected", "NOT_XLSX")


async def test_refusals_at_the_edge(http, stack, make_user):
    url, headers, leads_dir, _ = stack
    base = f"{url}/api/admin/v1/lead-imports"
    data = csv_bytes(lead_rows(5))

    r = await upload(http, url, headers, unique("dup-") + ".csv", data)
    assert r.status_code == 202
    first = r.json()["data"]["id"]
    r = await upload(http, url, headers, unique("dup-") + ".csv", data)
    assert r.status_code == 409 and r.json()["error"]["code"] == "DUPLICATE_FILE"
    assert r.json()["error"]["data"]["importId"] == first

    operator = await make_user("operator")
    op_headers = bearer(await login(http, url, operator))
    assert (await upload(http, url, op_headers, "x.csv", data)).status_code == 403
    assert (await http.get(base, headers=op_headers)).status_code == 403
    assert (await http.get(base)).status_code == 401

    r = await upload(http, url, headers, "big.csv", csv_bytes(lead_rows(8000)))
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

    async def bad(response, field, code="VALIDATION_ERROR"):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["field"], error["code"]) == (field, code), error

    await bad(await upload(http, url, headers, "x.csv", data, stream="NO_SUCH"), "stream", "UNKNOWN_STREAM")
    await bad(await upload(http, url, headers, "x.csv", data, stream=None), "stream")
    await bad(await upload(http, url, headers, "x.csv", data, stream="MOBILE\x00LOANS"), "stream")
    await bad(await upload(http, url, headers, "x.csv", b""), "file", "EMPTY_FILE")
    await bad(await http.post(base, headers=headers, data={"stream": "MOBILE_LOANS"}), "file", "MULTIPART_REQUIRED")
    await bad(await http.post(base, headers=headers, files={"other": ("x.txt", b"x")}, data={"stream": "MOBILE_LOANS"}),
              "file")
    await bad(await http.post(base, headers={**headers, "Content-Type": "multipart/form-data; boundary=zzz"},
                              content=b"--zzz\r\nbroken"), "file", "MALFORMED_MULTIPART")
    await bad(await http.get(base, headers=headers, params={"createdFrom": "2024-01-01T00:00:00"}), "createdFrom")
    await bad(await http.get(base, headers=headers, params={"createdTo": "yesterday"}), "createdTo")
    await bad(await http.get(base, headers=headers, params={"createdTo": "2200-01-01T00:00:00Z"}), "createdTo")
    await bad(await http.get(base, headers=headers, params={"source": "fax"}), "source")
    await bad(await http.get(base, headers=headers, params={"limit": 0}), "limit")
    await bad(await http.get(base, headers=headers, params={"state": "lost"}), "state")
    await bad(await http.get(base, headers=headers, params={"stream": "NOPE"}), "stream", "UNKNOWN_STREAM")
    r = await http.get(f"{base}/999999999", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "IMPORT_NOT_FOUND"
    assert (await http.get(f"{base}/0", headers=headers)).status_code == 400
    assert not [p for p in (leads_dir / ".uploads").iterdir() if p.suffix == ".part"]  # refused uploads left nothing
