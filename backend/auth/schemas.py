"""Wire formats of seed 001 appendices Б, В, Г, Д, М (field names and envelopes kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.core.types import Str

Credential = Annotated[Str, msgspec.Meta(min_length=1, max_length=2048)]
Token = Annotated[Str, msgspec.Meta(min_length=1, max_length=2048)]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=False):
    login: Credential
    password: Credential


class TokenRequest(msgspec.Struct):
    token: Token


class CheckAccessRequest(msgspec.Struct, rename="camel"):
    token: Token
    update_expire: bool = False


class ResultCode(msgspec.Struct, omit_defaults=True):
    code: Annotated[str, msgspec.Meta(description=(
        "OK; denials: ACCESS_DENIED (checkAccess), INVALID_CREDENTIALS, ACCOUNT_LOCKED (login)"))]
    description: Annotated[str, msgspec.Meta(description="what the code means, in the request's language "
                                                          "(Russian; English on Accept-Language: en)")] | None = None


class SecurityTokenData(msgspec.Struct, rename="camel"):
    token: str
    operator_id: int


class SecurityLoginResponse(msgspec.Struct, omit_defaults=True):
    """Appendix Б: data only with result.code OK."""

    result: ResultCode
    data: SecurityTokenData | None = None


class SecurityResultResponse(msgspec.Struct):
    result: ResultCode


class AccessData(msgspec.Struct, rename="camel"):
    operator_id: int
    role: str
    expires_at: datetime


class CheckAccessResponse(msgspec.Struct, omit_defaults=True):
    result: ResultCode
    data: AccessData | None = None


class ArmTokenData(msgspec.Struct, rename="camel"):
    token: str
    operator_id: int
    role: str


class ArmLoginResponse(msgspec.Struct):
    status: str
    data: ArmTokenData


class StatusResponse(msgspec.Struct):
    status: str


class MeData(msgspec.Struct, rename="camel"):
    operator_id: int
    login: str
    role: str
    first_name: str
    last_name: str
    session_expires_at: datetime


class MeResponse(msgspec.Struct):
    data: MeData
    status: str = "OK"
