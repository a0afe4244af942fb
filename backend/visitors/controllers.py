from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.access.schemas import DoorOpened
from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from backend.visitors import service
from backend.visitors.schemas import (
    DeskHouse,
    InvitationIn,
    PassIssued,
    PassKey,
    PassOut,
    SharedPass,
    VisitOut,
    WalkInIn,
)
from roles import Action


class VisitorController(Controller):
    tags = ["visitors"]

    @post(
        "/api/passes",
        status_code=HTTP_201_CREATED,
        operation_id="inviteVisitor",
        opt=permission(Action.INVITE_VISITOR),
    )
    async def invite(
        self, data: JSONBody[InvitationIn], ctx: Ctx, who: Caller, request: Request
    ) -> PassIssued:
        """A verified resident's pass for a visitor to their household; the share link is shown only here."""
        return await service.invite(ctx, who, data, client_ip(request))

    @post(
        "/api/walk-ins",
        status_code=HTTP_201_CREATED,
        operation_id="registerWalkIn",
        opt=permission(Action.REGISTER_WALK_IN),
    )
    async def walk_in(self, data: JSONBody[WalkInIn], ctx: Ctx, who: Caller, request: Request) -> PassIssued:
        """The guard desk registers a visitor by ID document; the household may have to confirm."""
        return await service.register_walk_in(ctx, who, data, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/desk/houses",
        operation_id="deskHouses",
        opt=permission(Action.REGISTER_WALK_IN),
    )
    async def desk_houses(self, community_id: PathId, who: Caller) -> list[DeskHouse]:
        """The community's flats a walk-in may visit (the guard desk's picker)."""
        return await service.desk_houses(who, community_id)

    @get("/api/passes", operation_id="myPasses", opt=permission(Action.LIST_OWN_PASSES))
    async def mine(self, ctx: Ctx, who: Caller) -> list[PassOut]:
        return await service.my_passes(ctx, who)

    @post(
        "/api/passes/{pass_id:int}/confirm",
        status_code=HTTP_200_OK,
        operation_id="confirmVisitor",
        opt=permission(Action.CONFIRM_VISITOR),
    )
    async def confirm(self, pass_id: PathId, ctx: Ctx, who: Caller, request: Request) -> PassOut:
        return await service.confirm(ctx, who, pass_id, client_ip(request))

    @post(
        "/api/passes/{pass_id:int}/revoke",
        status_code=HTTP_200_OK,
        operation_id="revokePass",
        opt=permission(Action.REVOKE_PASS),
    )
    async def revoke(self, pass_id: PathId, ctx: Ctx, who: Caller, request: Request) -> PassOut:
        return await service.revoke(ctx, who, pass_id, client_ip(request))

    @get("/api/passes/{pass_id:int}/visits", operation_id="passVisits", opt=permission(Action.VIEW_VISITS))
    async def visits(self, pass_id: PathId, who: Caller, request: Request) -> list[VisitOut]:
        return await service.visits(who, pass_id, client_ip(request))

    # The share link's routes need no account: the share token is the credential.
    @get("/api/shared-passes/{share:str}", operation_id="sharedPass")
    async def shared(self, share: FromPath[str], ctx: Ctx, request: Request) -> SharedPass:
        return await service.shared(ctx, share, client_ip(request))

    @post(
        "/api/shared-passes/{share:str}/doors/{door_id:int}/open",
        status_code=HTTP_200_OK,
        operation_id="openByPass",
    )
    async def open(self, share: FromPath[str], door_id: PathId, ctx: Ctx, request: Request) -> DoorOpened:
        """Open a door of the pass; an ``Idempotency-Key`` header makes a retried tap open (and count) once."""
        key = request.headers.get("idempotency-key")
        return await service.open_shared(ctx, share, door_id, key, client_ip(request))

    @get("/api/communities/{community_id:int}/pass-key", operation_id="passKey")
    async def pass_key(self, community_id: PathId, ctx: Ctx) -> PassKey:
        """The community's public key: doors verify visitor pass QR codes offline with it."""
        return await service.public_key(ctx, community_id)
