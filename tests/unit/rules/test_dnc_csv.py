"""The do-not-call CSV parser refuses a damaged file with a 400 naming the line, never a 500."""

from __future__ import annotations

import pytest

from backend.core.errors import BadRequest
from backend.rules.service import parse_dnc_csv


@pytest.mark.parametrize("text", ["=\u00bc\u0085_\rJ\u0017<", "79990000001,,a\rb\n", "\x00"])
def test_a_damaged_file_is_refused_with_the_line_named(text):
    with pytest.raises(BadRequest) as refused:
        parse_dnc_csv(text)
    assert refused.value.code == "DNC_CSV_INVALID" and refused.value.data["line"] >= 1


def test_line_endings_of_any_kind_are_lines():
    assert [row[0] for row in parse_dnc_csv("79990000001\r\n79990000002\r79990000003\n")] == \
        ["79990000001", "79990000002", "79990000003"]
