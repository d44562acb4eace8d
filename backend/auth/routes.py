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


def _address(request: Request[Any, Any, Any]) -> str:
    return client_address(request, request.app.state.settings.trusted_proxies)


async def _login(request: Request[Any, Any, Any], data: LoginRequest) -> LoginResult:
    auth: AuthService = request.app.state.auth
    return await auth.login(data.login, data.password, client_addr=_address(request),
                            user_agent=request.headers.get("user-agent"))


class SecurityController(Controller):
    path = "/api/security/v1"
    tags = ["security"]

    @post("/login", opt=PUBLIC, status_code=200, summary="Log in (appendix Б)")
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[LoginRequest]) -> SecurityLoginResponse:
        result = await _login(request, data)
        return SecurityLoginResponse(ResultCode("OK"), SecurityTokenData(result.token, result.operator_id))

    @post("/logout", opt=PUBLIC, status_code=200, summary="Log out: the token's session ends at once (appendix В)")
    async def logout(self, request: Request[Any, Any, Any], data: JSONBody[TokenRequest]) -> SecurityResultResponse:
        auth: AuthService = request.app.state.auth
        await auth.logout_token(data.token)
        return SecurityResultResponse(ResultCode("OK"))

    @post("/checkAccess", opt=PUBLIC, status_code=200,
          summary="Is this token's session alive? updateExpire slides its idle expiry (appendix Г)")
    async def check_access(self, request: Request[Any, Any, Any],
                           data: JSONBody[CheckAccessRequest]) -> CheckAccessResponse:
        auth: AuthService = request.app.state.auth
        principal = await auth.authenticate(data.token, force_slide=data.update_expire, slide=False)
        if principal is None:
            return CheckAccessResponse(ResultCode("ACCESS_DENIED", "Доступ запрещен"))
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
        return StatusResponse()

    @get("/me", guards=[ANY_ROLE], summary="Who is logged in, and until when the session lasts without activity")
    async def me(self, request: Request[Principal, str, Any]) -> MeResponse:
        user = request.user
        return MeResponse(MeData(user.operator_id, user.login, user.role, user.first_name, user.last_name,
                                 user.idle_expires_at))
