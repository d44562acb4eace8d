"""Wire formats of the campaign domain."""

from __future__ import annotations

from typing import Annotated

import msgspec

from backend.core.types import Str

Short = Annotated[Str, msgspec.Meta(max_length=256)]


class FullName(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    name: Short | None = None
    last_name: Short | None = None
    middle_name: Short | None = None


class ClientInfo(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    """The client fields the card reads (seed 001 appendix Е). A lead may carry more fields — they are kept
    as sent — but these must have this shape: a name given as a string where an object is expected is a
    400 naming the field, never silently dropped from the card."""

    full_name_ru: FullName | None = None
    full_name_en: FullName | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    middle_name: Short | None = None
    first_name_en: Short | None = None
    last_name_en: Short | None = None
    middle_name_en: Short | None = None
    citizenship: Short | None = None
    birth_date: Annotated[str, msgspec.Meta(pattern=r"^(\d{2}\.\d{2}\.\d{4}|\d{4}-\d{2}-\d{2})$",
                                            description="dd.MM.yyyy or yyyy-MM-dd")] | None = None
    do_id: Short | None = None
    application_id: Short | None = None
