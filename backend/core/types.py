"""Wire types every domain shares: bounded scalars and the seed's response envelopes."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

Phone = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{11}$", description="11 digits")]
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]  # a PostgreSQL bigint key


class DataResponse(msgspec.Struct):
    """The seed's success envelope: ``{"data": ..., "status": "OK"}``."""

    data: Any
    status: str = "OK"


class StatusOnly(msgspec.Struct):
    status: str = "OK"
