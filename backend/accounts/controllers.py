from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
)

from backend.accounts import passkeys, service
from backend.accounts.service import AccountView, StaffCreate, TokenPair
from backend.accounts.tables import Account
from backend.deps import Caller, Ctx
from backend.net import client_ip
from backend.registry.tables import Community
from roles import Action, authorize

Phone = Annotated[str, msgspec.Meta(max_length=11)]


class CodeRequest(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone


class CodeSent(msgspec.Struct):
    expires_in: int


class CodeSignIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    code: Annotated[str, msgspec.Meta(min_length=4, max_length=8)]


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(max_length=100)]


class PasskeyEnrolment(msgspec.Struct, forbid_unknown_fields=True):
    credential: dict[str, Any]


class PasskeySignIn(msgspec.Struct, forbid_unknown_fields=True):
    ticket: Annotated[str, msgspec.Meta(max_length=64)]
    credential: dict[str, Any]


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    @post("/code", status_code=HTTP_202_ACCEPTED, operation_id="sendCode")
    async def send_code(self, data: JSONBody[CodeRequest], ctx: Ctx, request: Request) -> CodeSent:
        """Text a one-time sign-in code to a phone."""
        return CodeSent(expires_in=await service.send_code(ctx, data.phone, client_ip(request)))

    @post("/token", status_code=HTTP_200_OK, operation_id="signInWithCode")
    async def sign_in(self, data: JSONBody[CodeSignIn], ctx: Ctx) -> TokenPair:
        return await service.sign_in_with_code(ctx, data.phone, data.code)

    @post("/refresh", status_code=HTTP_200_OK, operation_id="refreshTokens")
    async def refresh(self, data: JSONBody[RefreshRequest], ctx: Ctx) -> TokenPair:
        """Exchange a refresh token (once) for a new pair."""
        return await service.refresh(ctx, data.refresh_token)

    @post("/logout", status_code=HTTP_204_NO_CONTENT, operation_id="signOut")
    async def logout(self, data: JSONBody[RefreshRequest]) -> None:
        await service.sign_out(data.refresh_token)

    @post(
        "/passkeys/registration-options", status_code=HTTP_200_OK, operation_id="passkeyRegistrationOptions"
    )
    async def registration_options(self, ctx: Ctx, who: Caller) -> dict[str, Any]:
        return await passkeys.registration_options(ctx, who)

    @post("/passkeys", status_code=HTTP_201_CREATED, operation_id="enrolPasskey")
    async def enrol(
        self, data: JSONBody[PasskeyEnrolment], ctx: Ctx, who: Caller, request: Request
    ) -> TokenPair:
        """Store a passkey; returns a fresh session that knows the account has one."""
        return await passkeys.enrol(ctx, who, data.credential, client_ip(request))

    @post(
        "/passkeys/authentication-options",
        status_code=HTTP_200_OK,
        operation_id="passkeyAuthenticationOptions",
    )
    async def authentication_options(self, ctx: Ctx) -> passkeys.AuthenticationOptions:
        return await passkeys.authentication_options(ctx)

    @post("/passkeys/authenticate", status_code=HTTP_200_OK, operation_id="signInWithPasskey")
    async def authenticate(self, data: JSONBody[PasskeySignIn], ctx: Ctx) -> TokenPair:
        return await passkeys.authenticate(ctx, data.ticket, data.credential)


class AccountController(Controller):
    tags = ["accounts"]

    @get("/api/me", operation_id="me")
    async def me(self, who: Caller) -> AccountView:
        authorize(who, Action.VIEW_OWN_ACCOUNT)
        return await service.account_view(await Account.objects().get(Account.id == who.account_id))

    @post("/api/staff", status_code=HTTP_201_CREATED, operation_id="createStaff")
    async def create_staff(self, data: JSONBody[StaffCreate], who: Caller, request: Request) -> AccountView:
        """District admins create staff accounts scoped to communities or districts."""
        rows = await Community.select(Community.id, Community.district).where(
            Community.id.is_in(data.community_ids or [-1])
        )
        district_of = {r["id"]: r["district"] for r in rows}
        return await service.create_staff(who, data, district_of, client_ip(request))
