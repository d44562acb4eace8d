"""`tm-admin import-dnc FILE`: a do-not-call file from the shell, all lines or none."""

from __future__ import annotations

from tests.integration.operators.test_cli import cli
from tests.integration.rules.helpers import phone


async def test_import_dnc_from_a_file(services, pool, tmp_path):
    first, second = phone(), phone()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"phone,until,reason\n{first},,жалоба\n{second},вчера,\n", encoding="utf-8")
    code, out = await cli(services, "import-dnc", str(bad))
    assert code != 0 and "Line 3" in out
    assert await pool.fetchval("SELECT count(*) FROM do_not_call WHERE phone = ANY($1)", [first, second]) == 0

    good = tmp_path / "good.csv"
    good.write_text(f"\ufeff{first},,жалоба\n{second},2031-01-01T00:00:00+03:00,\n", encoding="utf-8")
    code, out = await cli(services, "import-dnc", str(good))
    assert code == 0 and "2 do-not-call entries stored" in out, out
    rows = await pool.fetch("SELECT phone, until IS NULL AS permanent, source FROM do_not_call "
                            "WHERE phone = ANY($1) ORDER BY phone", [first, second])
    assert {r["phone"]: (r["permanent"], r["source"]) for r in rows} == {first: (True, "CSV"), second: (False, "CSV")}
