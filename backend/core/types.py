"""Wire types every domain shares: bounded scalars, NUL-free strings, sane dates, the seed's envelopes.

Everything a client sends is checked here, at the edge, so that nothing reaches PostgreSQL that it cannot
store (a NUL byte in text, an integer beyond bigint, a time that overflows when converted to UTC) and the
client gets a 400 naming the field instead of a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

# PostgreSQL text cannot hold U+0000: every string a client sends is of this type (or a bounded one).
Str = Annotated[str, Meta(pattern=r"^[^\x00]*$", description="text without NUL characters")]
Phone = Annotated[str, Meta(pattern=r"^[0-9]{11}$", description="11 digits")]
Ident = Annotated[Str, Meta(min_length=1, max_length=128)]
BIGINT_MAX = 2**63 - 1
Id = Annotated[int, Meta(ge=1, le=BIGINT_MAX)]  # a PostgreSQL bigint key
Offset = Annotated[int, Meta(ge=0, le=BIGINT_MAX)]
# A moment in time must say its zone; the range keeps it inside what every layer can convert.
AwareDatetime = Annotated[datetime, Meta(tz=True)]
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
JSON_DEPTH = 16


def invalid(field: str, message: str) -> ValueError:
    """A ValueError that msgspec reports as a validation error at ``field`` (our handler names it)."""
    return ValueError(f"{message} - at `$.{field}`")


def check_datetime(value: datetime | None, field: str) -> None:
    """Call from ``__post_init__``: a date outside 2000..2100 (or one that overflows in UTC) is refused."""
    if value is None:
        return
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise invalid(field, "Date is out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise invalid(field, f"Date must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")


def check_json(value: Any, field: str, depth: int = 0) -> None:
    """Free-form JSON (e.g. clientInfo): no NUL in any key or string, at most JSON_DEPTH levels deep."""
    if depth > JSON_DEPTH:
        raise invalid(field, f"Nested deeper than {JSON_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise invalid(field, "Text must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise invalid(field, "Keys must not contain NUL characters")
            check_json(item, f"{field}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{field}[{index}]", depth + 1)


def check_shape(value: Any, shape: type, field: str) -> None:
    """The known fields of a free-form object must have their documented shape (extra fields may stay)."""
    try:
        msgspec.convert(value, shape)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("`$", f"`$.{field}", 1)) from None


class DataResponse(msgspec.Struct):
    """The seed's success envelope: ``{"data": ..., "status": "OK"}``."""

    data: Any
    status: str = "OK"


class StatusOnly(msgspec.Struct):
    status: str = "OK"
