from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.access import service
from backend.access.schemas import DoorOpened, DoorOut, GrantIn, GrantOut
from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from backend.registry.tables import Community
from roles import Action


class AccessController(Controller):
    tags = ["access"]

    @get("/api/doors", operation_id="myDoors", opt=permission(Action.LIST_OWN_DOORS))
    async def doors(self, who: Caller) -> list[DoorOut]:
        """The doors the caller may open now, for one-tap opening."""
        return await service.my_doors(who)

    @post(
        "/api/doors/{door_id:int}/open",
        status_code=HTTP_200_OK,
        operation_id="openDoor",
        opt=permission(Action.OPEN_DOOR),
    )
    async def open(self, door_id: PathId, ctx: Ctx, who: Caller, request: Request) -> DoorOpened:
        """Open a door from the phone; an ``Idempotency-Key`` header makes retries of one tap open once."""
        key = request.headers.get("idempotency-key")
        return await service.open_door(ctx, who, door_id, key, client_ip(request))

    @post(
        "/api/grants",
        status_code=HTTP_201_CREATED,
        operation_id="grantAccess",
        opt=permission(Action.GRANT_ACCESS),
    )
    async def grant(self, data: JSONBody[GrantIn], ctx: Ctx, who: Caller, request: Request) -> GrantOut:
        """Let a staff or police account open a community's doors (or one door) for a period."""
        row = await Community.select(Community.district).where(Community.id == data.community_id).first()
        return await service.grant(ctx, who, data, row["district"] if row else None, client_ip(request))
