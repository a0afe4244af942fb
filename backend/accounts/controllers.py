from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import Cookie
from litestar.params import CookieParameter, JSONBody
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
)

from backend.accounts import passkeys, service, staff
from backend.accounts.service import AccountView, Session, TokenPair
from backend.accounts.staff import StaffCreate, StaffOut, StaffUpdate
from backend.accounts.tables import Account
from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from roles import Action, authorize

Phone = Annotated[str, msgspec.Meta(max_length=11)]
# The refresh token lives only in this cookie: HttpOnly keeps it from scripts (an XSS cannot
# steal a 30-day credential), SameSite=Strict keeps other sites from using it, and the path
# limits it to the endpoints that read it (refresh, logout).
REFRESH_COOKIE = "anju_refresh"
REFRESH_PATH = "/api/auth"
RefreshCookie = Annotated[str | None, CookieParameter(name=REFRESH_COOKIE, max_length=100)]


class CodeRequest(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone


class CodeSent(msgspec.Struct):
    expires_in: int


class CodeSignIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    code: Annotated[str, msgspec.Meta(min_length=4, max_length=8)]


class PasskeyEnrolment(msgspec.Struct, forbid_unknown_fields=True):
    credential: dict[str, Any]


class PasskeySignIn(msgspec.Struct, forbid_unknown_fields=True):
    ticket: Annotated[str, msgspec.Meta(max_length=64)]
    credential: dict[str, Any]


def _refresh_cookie(value: str, max_age: int) -> Cookie:
    return Cookie(
        key=REFRESH_COOKIE,
        value=value,
        path=REFRESH_PATH,
        max_age=max_age,
        httponly=True,
        secure=True,
        samesite="strict",
    )


def _signed_in(ctx, session: Session, status_code: int = HTTP_200_OK) -> Response[TokenPair]:
    """The token pair's access half in the body, its refresh half in the cookie only."""
    max_age = ctx.settings.refresh_token_days * 86400
    return Response(
        session.tokens, status_code=status_code, cookies=[_refresh_cookie(session.refresh_token, max_age)]
    )


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    @post("/code", status_code=HTTP_202_ACCEPTED, operation_id="sendCode")
    async def send_code(self, data: JSONBody[CodeRequest], ctx: Ctx, request: Request) -> CodeSent:
        """Text a one-time sign-in code to a phone."""
        return CodeSent(expires_in=await service.send_code(ctx, data.phone, client_ip(request)))

    @post("/token", status_code=HTTP_200_OK, operation_id="signInWithCode")
    async def sign_in(self, data: JSONBody[CodeSignIn], ctx: Ctx, request: Request) -> Response[TokenPair]:
        """Police and district admins with a passkey are refused (401 passkey_required)."""
        return _signed_in(
            ctx, await service.sign_in_with_code(ctx, data.phone, data.code, client_ip(request))
        )

    @post("/refresh", status_code=HTTP_200_OK, operation_id="refreshTokens")
    async def refresh(self, ctx: Ctx, refresh_token: RefreshCookie = None) -> Response[TokenPair]:
        """Exchange the refresh cookie (once) for a new pair."""
        return _signed_in(ctx, await service.refresh(ctx, refresh_token))

    @post("/logout", status_code=HTTP_204_NO_CONTENT, operation_id="signOut")
    async def logout(self, ctx: Ctx, request: Request, refresh_token: RefreshCookie = None) -> Response[None]:
        """End this sign-in: its refresh family and, at once, its access tokens."""
        await service.sign_out(ctx, refresh_token, client_ip(request))
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[_refresh_cookie("", 0)])

    @post(
        "/passkeys/registration-options",
        status_code=HTTP_200_OK,
        operation_id="passkeyRegistrationOptions",
        opt=permission(Action.ENROL_PASSKEY),
    )
    async def registration_options(self, ctx: Ctx, who: Caller) -> dict[str, Any]:
        return await passkeys.registration_options(ctx, who)

    @post(
        "/passkeys",
        status_code=HTTP_201_CREATED,
        operation_id="enrolPasskey",
        opt=permission(Action.ENROL_PASSKEY),
    )
    async def enrol(
        self, data: JSONBody[PasskeyEnrolment], ctx: Ctx, who: Caller, request: Request
    ) -> Response[TokenPair]:
        """Store a passkey; returns a fresh passkey session. A second key needs a passkey session."""
        session = await passkeys.enrol(ctx, who, data.credential, client_ip(request))
        return _signed_in(ctx, session, HTTP_201_CREATED)

    @get("/passkeys", operation_id="listPasskeys", opt=permission(Action.MANAGE_OWN_PASSKEYS))
    async def list_passkeys(self, who: Caller) -> list[passkeys.PasskeyView]:
        return await passkeys.list_own(who)

    @delete(
        "/passkeys/{passkey_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="removePasskey",
        opt=permission(Action.MANAGE_OWN_PASSKEYS),
    )
    async def remove_passkey(self, passkey_id: PathId, ctx: Ctx, who: Caller, request: Request) -> None:
        await passkeys.remove_own(ctx, who, passkey_id, client_ip(request))

    @post(
        "/passkeys/authentication-options",
        status_code=HTTP_200_OK,
        operation_id="passkeyAuthenticationOptions",
    )
    async def authentication_options(self, ctx: Ctx) -> passkeys.AuthenticationOptions:
        return await passkeys.authentication_options(ctx)

    @post("/passkeys/authenticate", status_code=HTTP_200_OK, operation_id="signInWithPasskey")
    async def authenticate(
        self, data: JSONBody[PasskeySignIn], ctx: Ctx, request: Request
    ) -> Response[TokenPair]:
        session = await passkeys.authenticate(ctx, data.ticket, data.credential, client_ip(request))
        return _signed_in(ctx, session)


class AccountController(Controller):
    tags = ["accounts"]

    @get("/api/me", operation_id="me", opt=permission(Action.VIEW_OWN_ACCOUNT))
    async def me(self, who: Caller) -> AccountView:
        authorize(who, Action.VIEW_OWN_ACCOUNT)
        return await service.account_view(await Account.objects().get(Account.id == who.account_id))

    @post(
        "/api/staff",
        status_code=HTTP_201_CREATED,
        operation_id="createStaff",
        opt=permission(Action.MANAGE_STAFF),
    )
    async def create_staff(self, data: JSONBody[StaffCreate], who: Caller, request: Request) -> AccountView:
        """District admins create staff accounts scoped to communities or districts."""
        return await staff.create_staff(who, data, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/staff",
        operation_id="listStaff",
        opt=permission(Action.MANAGE_STAFF),
    )
    async def list_staff(self, community_id: PathId, who: Caller, request: Request) -> list[StaffOut]:
        """The community's staff accounts, active or disabled, with their scopes."""
        return await staff.list_staff(who, community_id, client_ip(request))

    @patch("/api/staff/{account_id:int}", operation_id="updateStaff", opt=permission(Action.MANAGE_STAFF))
    async def update_staff(
        self, account_id: PathId, data: JSONBody[StaffUpdate], ctx: Ctx, who: Caller, request: Request
    ) -> AccountView:
        """Disable, re-role or re-scope a staff account; its access tokens end at once."""
        return await staff.update_staff(ctx, who, account_id, data, client_ip(request))

    @post(
        "/api/staff/{account_id:int}/passkeys/reset",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="resetStaffPasskeys",
        opt=permission(Action.RESET_PASSKEYS),
    )
    async def reset_passkeys(self, account_id: PathId, ctx: Ctx, who: Caller, request: Request) -> None:
        """Recovery for a lost passkey: the officer then enrols anew after a phone code."""
        await staff.reset_passkeys(ctx, who, account_id, client_ip(request))
