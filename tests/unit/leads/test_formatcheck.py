"""Format control of appendix А on raw rows: header, encodings, delimiters, every column's format, the rules
across columns, and the lines that are not rows at all."""

from __future__ import annotations

import codecs
import io
from datetime import UTC, date, datetime

import pytest

from backend.leads.columns import COLUMNS, markdown_table, resolve
from backend.leads.formatcheck import CP1251, UTF8, FileRejected, Layout, check_chunk, read_header
from backend.leads.generate import header, rows
from backend.leads.reader import CsvChunks, _cell

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def good_row(**changes: str) -> list[str]:
    row = next(rows(1, seed=7, start=34697463, now=NOW))
    codes = [c.code for c in COLUMNS]
    for code, value in changes.items():
        row[codes.index(code)] = value
    return row


def layout(delimiter: str = ";", encoding: str = UTF8) -> Layout:
    result = read_header((delimiter.join(header("ru")) + "\n").encode(encoding), max_line_bytes=65536)
    result.now = NOW
    return result


def check(*lines: list[str] | str, delimiter: str = ";", encoding: str = UTF8, first_line: int = 2):
    lay = layout(delimiter, encoding)
    raw = "".join((line if isinstance(line, str) else delimiter.join(line)) + "\n" for line in lines)
    return check_chunk(lay, raw.encode(encoding, "surrogateescape") if encoding != UTF8 else raw.encode(), first_line)


def reasons(result) -> list[tuple[int, str, str]]:
    return [(r["row"], r["column"].split(" ", 1)[0], r["reason"]) for r in result.errors.to_dicts()]


# ---- header --------------------------------------------------------------------------------------------


def test_header_by_russian_titles_or_english_codes_in_any_order_with_either_delimiter():
    for style in ("ru", "en"):
        for delimiter in (";", ","):
            names = header(style)[::-1]
            lay = read_header((delimiter.join(names) + "\r\n").encode(), max_line_bytes=65536)
            assert lay.delimiter == delimiter
            assert lay.codes == tuple(c.code for c in COLUMNS)[::-1]
    assert resolve("  НОМЕР   ЗАЯВКИ ") == "application_no"
    assert resolve("Номер") == "passport_number"  # 2.6, not the start of 1.1


def test_header_encodings_bom_and_windows_1251():
    text = ";".join(header("ru")) + "\n"
    assert read_header(codecs.BOM_UTF8 + text.encode(), max_line_bytes=65536).encoding == "utf-8-sig"
    assert read_header(text.encode("windows-1251"), max_line_bytes=65536).encoding == CP1251
    assert read_header(";".join(header("en")).encode() + b"\n", max_line_bytes=65536).encoding == ""  # ASCII so far


@pytest.mark.parametrize(("data", "reason", "words"), [
    (b"", "EMPTY", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NOT_CSV", "binary"),
    (b"\x00\x01\x02binary\n", "NOT_CSV", "NUL"),
    (bytes(range(11, 256)) * 300, "NOT_CSV", "no line break"),
    (codecs.BOM_UTF16_LE + "Номер заявки".encode("utf-16-le"), "ENCODING", "UTF-16"),
    (b"name;surname\n", "HEADER", "not a header"),
    ("Номер заявки;Номер телефона;Зарплата\n".encode(), "HEADER", "unknown column 'Зарплата'"),
    ("Номер заявки;Номер заявки\n".encode(), "HEADER", "appears twice"),
    ("Номер заявки;Номер телефона\n".encode(), "HEADER", "'Бизнес статус заявки' (application_status) is missing"),
])
def test_files_rejected_whole_with_a_clear_reason(data, reason, words):
    with pytest.raises(FileRejected) as info:
        read_header(data[:65536], max_line_bytes=4096)
    assert info.value.reason == reason
    assert words in info.value.message


def test_a_header_of_500_columns_is_rejected_naming_them():
    names = header("ru") + [f"extra{i}" for i in range(469)]
    with pytest.raises(FileRejected) as info:
        read_header((";".join(names) + "\n").encode(), max_line_bytes=65536)
    assert "unknown column 'extra0'" in info.value.message and "extra468" in info.value.message


# ---- rows ----------------------------------------------------------------------------------------------


def test_a_good_row_becomes_typed_values_with_moscow_time_in_utc():
    row = good_row(created_date="07.10.2022", created_time="00:00:00", changed_date="07.10.2022",
                   changed_time="10:30:00", requested_amount="25000,5", approved_amount="20000",
                   citizenship="kgz", loan_status="recieved", application_status="scored", scoring_result="approved",
                   loan_changed_date="08.10.2022", loan_changed_time="09:00:00")
    result = check(row)
    assert result.errors.height == 0 and result.rows == 1 and result.bad_rows == 0
    out = result.valid.to_dicts()[0]
    assert out["application_no"] == 34697463 and out["line_no"] == 2
    assert out["created_at"] == datetime(2022, 10, 6, 21, 0)  # 00:00 Moscow = 21:00 UTC the day before
    assert out["changed_at"] == datetime(2022, 10, 7, 7, 30)
    assert out["loan_changed_at"] == datetime(2022, 10, 8, 6, 0)
    assert out["requested_amount"] == 2_500_050 and out["approved_amount"] == 2_000_000  # kopecks
    assert out["citizenship"] == "KGZ" and out["loan_status"] == "received"  # the appendix's spelling accepted
    assert isinstance(out["birth_date"], date)


@pytest.mark.parametrize(("code", "value", "reason"), [
    ("application_no", "", "required value is missing"),
    ("application_no", "34697463a", "not a number"),
    ("application_no", "1" * 19, "not a number"),
    ("created_date", "31.02.2023", "not a date DD.MM.YYYY"),
    ("created_date", "7.10.2022", "not a date DD.MM.YYYY"),
    ("created_date", "2022-10-07", "not a date DD.MM.YYYY"),
    ("created_time", "25:61:00", "not a time hh:mm:ss"),
    ("created_time", "1:02:03", "not a time hh:mm:ss"),
    ("application_status", "approved", "not one of: created, registered, scored, canceled"),
    ("application_status", "", "required value is missing"),
    ("loan_status", "lost", "not one of"),
    ("client_type", "newbie", "not one of: pioneer, repeater"),
    ("phone", "89057896050", "not a phone"),
    ("phone", "+79057896050", "not a phone"),
    ("phone", "7905789605", "not a phone"),
    ("sex", "X", "not one of: M, F"),
    ("citizenship", "Russia", "not a 3-letter country code"),
    ("requested_amount", "25 000 руб", "not an amount in roubles"),
    ("requested_amount", "1.234", "not an amount in roubles"),
    ("term", "-3", "not a whole number"),
    ("term_unit", "week", "not one of: day, month"),
    ("product_type", "mortgage", "not one of: express"),
    ("last_name", "Я" * 129, "longer than 128 characters"),
    ("birth_date", "01.01.2099", "in the future"),
])
def test_each_bad_value_is_reported_with_row_column_and_reason(code, value, reason):
    result = check(good_row(), good_row(**{code: value}))
    column = next(c for c in COLUMNS if c.code == code)
    assert result.rows == 2 and result.bad_rows == 1 and result.valid.height == 1
    found = reasons(result)
    assert any(row == 3 and col == column.number and reason in why for row, col, why in found), found


def test_rules_across_columns():
    result = check(
        good_row(application_status="created", scoring_result="approved"),
        good_row(term="30", term_unit=""),
        good_row(loan_changed_date="07.10.2022", loan_changed_time=""),
        good_row(created_date="08.10.2022", created_time="00:00:00", changed_date="07.10.2022"),
        good_row(changed_date="01.01.2030", created_date="01.01.2030", created_time="10:00:00",
                 changed_time="11:00:00"),
    )
    found = reasons(result)
    assert (2, "1.10", "given only when the application status is scored") in found
    assert (3, "4.5", "required when 'Срок займа' is given") in found
    assert (4, "1.8", "required when 'Дата значимого изменения займа' is given") in found
    assert (5, "1.4", "the significant change is earlier than the creation") in found
    assert (6, "1.4", "more than a day in the future") in found
    assert result.bad_rows == 5 and result.valid.height == 0


def test_every_bad_value_of_a_row_is_listed_not_only_the_first():
    result = check(good_row(phone="1", sex="X", term_unit="week"))
    assert sorted(col for _, col, _ in reasons(result)) == ["2.11", "2.2", "4.5"]
    assert result.bad_rows == 1


def test_lines_that_are_not_rows():
    width = len(COLUMNS)
    result = check(good_row(), ";".join(["1"] * 500), ";".join(good_row()[:10]), "", "   ",
                   ";".join(good_row(first_name="ИВ\x00АН")), good_row())
    found = reasons(result)
    assert (3, "", f"500 fields where the header has {width}") in found
    assert (4, "", f"10 fields where the header has {width}") in found
    assert (7, "", "the row holds a NUL byte (binary data?)") in found
    assert result.rows == 5 and result.bad_rows == 3 and result.valid.height == 2  # blank lines are no rows
    assert result.valid["line_no"].to_list() == [2, 8]


def test_quoted_values_may_hold_the_delimiter():
    row = good_row(last_name="ИВАНОВ;ПЕТРОВ")
    line = ";".join(f'"{v}"' for v in row)
    result = check(line, good_row())
    assert result.errors.height == 0 and result.valid["last_name"].to_list()[0] == "ИВАНОВ;ПЕТРОВ"
    broken = check(';'.join(row[:5]) + ';"unterminated' + ";".join(row[5:]))
    assert broken.bad_rows == 1 and "malformed quotes" in reasons(broken)[0][2]


def test_comma_delimiter_crlf_and_windows_1251():
    row = good_row(requested_amount="25000,50")
    lay = layout(",", "windows-1251")
    line = ",".join(f'"{v}"' if "," in v else v for v in row)
    raw = (line + "\r\n" + ",".join(good_row()) + "\r\n").encode("windows-1251")
    result = check_chunk(lay, raw, 2)
    assert result.errors.height == 0, result.errors
    assert result.valid["requested_amount"].to_list()[0] == 2_500_050
    assert result.valid["last_name"].to_list()[1] == good_row()[16]


def test_mixed_encodings_are_bad_rows():
    utf8_row = (";".join(good_row()) + "\n").encode()
    cp_row = (";".join(good_row()) + "\n").encode("windows-1251")
    lay = layout(";", "utf-8")
    result = check_chunk(lay, utf8_row + cp_row + utf8_row, 2)
    assert [r[2][:30] for r in reasons(result)] == ["the row is not valid UTF-8 tex"]
    assert result.valid.height == 2
    lay = layout(";", "windows-1251")
    result = check_chunk(lay, cp_row + utf8_row + cp_row, 2)
    assert reasons(result) == [(3, "", "the row is UTF-8 text in a Windows-1251 file (mixed encodings)")]
    assert result.valid.height == 2


def test_an_ascii_start_decides_the_encoding_at_the_first_other_bytes():
    lay = read_header((";".join(header("en")) + "\n").encode(), max_line_bytes=65536)
    lay.now = NOW
    assert lay.encoding == ""
    result = check_chunk(lay, (";".join(good_row()) + "\n").encode("windows-1251"), 2)
    assert lay.encoding == CP1251 and result.errors.height == 0


def test_overlong_lines_are_never_held_whole():
    lay = layout()
    long_line = b"x" * 300_000
    data = (";".join(header("ru")) + "\n").encode() + (";".join(good_row()) + "\n").encode() + long_line + b"\n" + \
        (";".join(good_row()) + "\n").encode() + long_line
    lay.max_line_bytes = 4096
    chunks = list(CsvChunks(io.BytesIO(data), lay, rows=1000, max_line=4096))
    results = [check_chunk(lay, c.raw, c.first_line) for c in chunks]
    # Reported by the reader (a line still open at the end of a block) or by the check (a line inside one).
    overlong = [o[::3] for c in chunks for o in c.overlong] + [(r[0], r[2]) for x in results for r in reasons(x)]
    assert sorted(overlong) == [(3, "the line is longer than 4096 bytes"), (5, "the line is longer than 4096 bytes")]
    assert sum(r.valid.height for r in results) == 2
    assert [v for r in results for v in r.valid["line_no"].to_list()] == [2, 4]


def test_chunks_split_only_at_line_breaks_and_number_lines():
    lay = layout()
    body = "".join(";".join(r) + "\n" for r in rows(2500, seed=3, now=NOW))
    data = (";".join(header("ru")) + "\n" + body).encode()
    lines = []
    for chunk in CsvChunks(io.BytesIO(data), lay, rows=1000, max_line=65536):
        result = check_chunk(lay, chunk.raw, chunk.first_line)
        assert result.errors.height == 0
        lines += result.valid["line_no"].to_list()
    assert lines == list(range(2, 2502))


def test_bad_fraction_of_the_generator_is_found():
    generated = list(rows(2000, bad_fraction=0.1, seed=11, now=NOW))
    result = check(*generated)
    assert 150 < result.bad_rows < 250
    assert result.bad_rows + result.valid.height == 2000


def test_xlsx_cells_become_the_csv_text_of_their_column():
    assert _cell(79057896050.0, "phone") == "79057896050"
    assert _cell(25000.5, "amount") == "25000.5"
    assert _cell(datetime(2022, 10, 7, 0, 0), "date") == "07.10.2022"
    assert _cell(datetime(1899, 12, 31, 10, 30, 5), "time") == "10:30:05"
    assert _cell(date(2022, 10, 7), "date") == "07.10.2022"
    assert _cell(None, "text") == "" and _cell("a\nb", "text") == "a b"


def test_readme_column_table_lists_every_column():
    table = markdown_table()
    assert all(f"`{c.code}`" in table for c in COLUMNS) and "| 4.7 |" in table
