"""Seed-compatible login/logout/checkAccess for the security service and the workstation (ARM)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody

from backend.auth.client import client_address
from backend.auth.guards import ANY_ROLE, PUBLIC
from backend.auth.schemas import (
    AccessData,
    ArmLoginResponse,
    ArmTokenData,
    CheckAccessRequest,
    CheckAccessResponse,
    LoginRequest,
    MeData,
    MeResponse,
    ResultCode,
    SecurityLoginResponse,
    SecurityResultResponse,
    SecurityTokenData,
    StatusResponse,
    TokenRequest,
)
from backend.auth.service import AuthService, LoginResult, Principal
from backend.core.errors import Forbidden, Unauthorized
from backend.core.language import describe, prefers_english

# The security service's denials are answers, not HTTP errors (seed 001, Рис. 33): HTTP 200 and result.code.
SECURITY_DENIALS = ("INVALID_CREDENTIALS", "ACCOUNT_LOCKED")


def _address(request: Request[Any, Any, Any]) -> str:
    return client_address(request, request.app.state.settings.trusted_proxies)


def _denial(request: Request[Any, Any, Any], code: str) -> ResultCode:
    english = prefers_english(request.headers.get("accept-language"))
    return ResultCode(code, describe(code, english, code))


async def _login(request: Request[Any, Any, Any], data: LoginRequest) -> LoginResult:
    auth: AuthService = request.app.state.auth
    return await auth.login(data.login, data.password, client_addr=_address(request),
                            user_agent=request.headers.get("user-agent"))


class SecurityController(Controller):
    path = "/api/security/v1"
    tags = ["security"]

    @post("/login", opt=PUBLIC, status_code=200,
          summary="Log in (appendix Б). A denial is HTTP 200 with result.code (Рис. 33) and a description in "
                  "the request's language: INVALID_CREDENTIALS, or ACCOUNT_LOCKED (only after the right password)",
          response_description="result.code OK with data; or, without data, INVALID_CREDENTIALS or ACCOUNT_LOCKED "
                               "with result.description (Russian; English on Accept-Language: en)")
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[LoginRequest]) -> SecurityLoginResponse:
        try:
            result = await _login(request, data)
        except (Unauthorized, Forbidden) as denied:
            if denied.code not in SECURITY_DENIALS:
                raise
            return SecurityLoginResponse(_denial(request, denied.code))
        return SecurityLoginResponse(ResultCode("OK"), SecurityTokenData(result.token, result.operator_id))

    @post("/logout", opt=PUBLIC, status_code=200,
          summary="Log out: the token's session ends at once (appendix В). result.code OK whenever the token "
                  "cannot be used afterwards: its session ended now or before, or it is no token of ours")
    async def logout(self, request: Request[Any, Any, Any], data: JSONBody[TokenRequest]) -> SecurityResultResponse:
        auth: AuthService = request.app.state.auth
        try:
            await auth.logout_token(data.token)
        except Unauthorized:
            pass  # a malformed or foreign token: nothing to end, answered as a revoked one is
        return SecurityResultResponse(ResultCode("OK"))

    @post("/checkAccess", opt=PUBLIC, status_code=200,
          summary="Is this token's session alive? updateExpire slides its idle expiry (appendix Г)",
          response_description="result.code OK with data, or ACCESS_DENIED with result.description (Рис. 33; "
                               "Russian, English on Accept-Language: en)")
    async def check_access(self, request: Request[Any, Any, Any],
                           data: JSONBody[CheckAccessRequest]) -> CheckAccessResponse:
        auth: AuthService = request.app.state.auth
        principal = await auth.authenticate(data.token, force_slide=data.update_expire, slide=False)
        if principal is None:
            return CheckAccessResponse(_denial(request, "ACCESS_DENIED"))
        return CheckAccessResponse(
            ResultCode("OK"), AccessData(principal.operator_id, principal.role, principal.idle_expires_at)
        )


class ArmAuthController(Controller):
    path = "/api/arm/v1"
    tags = ["arm"]

    @post("/login", opt=PUBLIC, status_code=200, summary="Log in to the workstation (appendix Д)")
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[LoginRequest]) -> ArmLoginResponse:
        result = await _login(request, data)
        return ArmLoginResponse("OK", ArmTokenData(result.token, result.operator_id, result.role))

    @get("/logout", guards=[ANY_ROLE], summary="Log out of the workstation (appendix М)")
    async def logout(self, request: Request[Principal, str, Any]) -> StatusResponse:
        auth: AuthService = request.app.state.auth
        await auth.revoke_session(request.user.session_id, "LOGOUT")
        return StatusResponse("OK")

    @get("/me", guards=[ANY_ROLE], summary="Who is logged in, and until when the session lasts without activity")
    async def me(self, request: Request[Principal, str, Any]) -> MeResponse:
        user = request.user
        return MeResponse(MeData(user.operator_id, user.login, user.role, user.first_name, user.last_name,
                                 user.idle_expires_at))
