"""Phone templates: full-match regular expressions run with RE2 (google-re2), whose matching time is linear
in the input, so no template an admin saves can make the cascade backtrack catastrophically. Templates are
compiled on save (a bad one is a 400 naming it) and again, once per batch, by the cascade."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import re2

# RE2 refuses programs above its memory budget; this keeps one template's compiled program small.
MAX_PROGRAM_BYTES = 1 << 20


class TemplateError(Exception):
    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_BYTES
    options.log_errors = False
    return options


def compile_templates(templates: Sequence[str]) -> Any | None:
    """One RE2 program matching any template in full; None when there are none (every phone passes)."""
    if not templates:
        return None
    for index, template in enumerate(templates):
        try:
            re2.compile(template, _options())
        except re2.error as exc:
            raise TemplateError(index, f"Not a valid RE2 regular expression: {exc}") from None
    joined = "|".join(f"(?:{t})" for t in templates)
    try:
        return re2.compile(joined, _options())
    except re2.error as exc:  # pragma: no cover - each part compiled; only the joint size can fail
        raise TemplateError(len(templates) - 1, f"The templates together are too large: {exc}") from None


def matching(program: Any | None, phones: Sequence[str]) -> list[bool]:
    """Whether each phone matches a template in full. Phones are ASCII digits, so the compiled program is
    asked directly with the encoded bytes (re2's str wrapper maps character offsets, ten times the cost)."""
    if program is None:
        return [True] * len(phones)
    regexp, anchor = getattr(program, "_regexp", None), getattr(re2, "_Anchor", None)
    if regexp is None or anchor is None:  # pragma: no cover - another google-re2 layout: the public API
        return [program.fullmatch(p) is not None for p in phones]
    both, match = anchor.ANCHOR_BOTH, regexp.Match
    out = []
    for phone in phones:
        raw = phone.encode()
        out.append(match(both, raw, 0, len(raw))[0][0] >= 0)
    return out
