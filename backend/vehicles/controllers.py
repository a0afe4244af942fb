from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from backend.vehicles import service
from backend.vehicles.schemas import PassageOut, VehicleIn, VehicleOut, WatchIn, WatchOut
from backend.vehicles.tables import Outcome
from roles import Action

EITHER = permission(Action.MANAGE_VEHICLES, Action.MANAGE_OWN_VEHICLES)
WATCH = permission(Action.MANAGE_WATCH_LIST)
PlateQuery = Annotated[str | None, QueryParameter(max_length=20)]


class VehicleController(Controller):
    tags = ["vehicles"]

    @post(
        "/api/houses/{house_id:int}/vehicles",
        status_code=HTTP_201_CREATED,
        operation_id="registerVehicle",
        opt=EITHER,
    )
    async def register(
        self, house_id: PathId, data: JSONBody[VehicleIn], who: Caller, request: Request
    ) -> VehicleOut:
        """Register a household's vehicle: staff for any household of their community, a resident their own."""
        return await service.register(who, house_id, data, client_ip(request))

    @get("/api/houses/{house_id:int}/vehicles", operation_id="householdVehicles", opt=EITHER)
    async def household(self, house_id: PathId, who: Caller, request: Request) -> list[VehicleOut]:
        return await service.household(who, house_id, client_ip(request))

    @post(
        "/api/vehicles/{vehicle_id:int}/revoke",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="revokeVehicle",
        opt=EITHER,
    )
    async def revoke(self, vehicle_id: PathId, who: Caller, request: Request) -> None:
        await service.revoke(who, vehicle_id, client_ip(request))

    @get(
        "/api/houses/{house_id:int}/vehicle-passages",
        operation_id="householdVehiclePassages",
        opt=permission(Action.VIEW_OWN_VEHICLE_PASSAGES),
    )
    async def household_passages(self, house_id: PathId, who: Caller) -> list[PassageOut]:
        """The household's own vehicles at the community's barriers."""
        return await service.household_passages(who, house_id)

    @get(
        "/api/communities/{community_id:int}/vehicle-passages",
        operation_id="communityVehiclePassages",
        opt=permission(Action.VIEW_VEHICLE_PASSAGES),
    )
    async def community_passages(
        self,
        community_id: PathId,
        who: Caller,
        request: Request,
        plate: PlateQuery = None,
        outcome: FromQuery[Outcome | None] = None,
        since: FromQuery[dt.datetime | None] = None,
        until: FromQuery[dt.datetime | None] = None,
    ) -> list[PassageOut]:
        """The community's vehicle passages (newest first; plate, outcome, [since, until))."""
        return await service.community_passages(
            who, community_id, client_ip(request), plate=plate, outcome=outcome, since=since, until=until
        )

    @get(
        "/api/communities/{community_id:int}/vehicle-passages/held",
        operation_id="heldVehicles",
        opt=permission(Action.ADMIT_VEHICLE),
    )
    async def held(self, community_id: PathId, who: Caller, request: Request) -> list[PassageOut]:
        """Vehicles waiting at the barriers for the guard desk, oldest first."""
        return await service.held(who, community_id, client_ip(request))

    @post(
        "/api/vehicle-passages/{passage_id:int}/let-in",
        status_code=HTTP_200_OK,
        operation_id="letVehicleIn",
        opt=permission(Action.ADMIT_VEHICLE),
    )
    async def let_in(self, passage_id: PathId, ctx: Ctx, who: Caller, request: Request) -> PassageOut:
        """Open the barrier for a held vehicle (recorded with the guard's account)."""
        return await service.let_in(ctx, who, passage_id, client_ip(request))

    @post(
        "/api/vehicle-passages/{passage_id:int}/refuse",
        status_code=HTTP_200_OK,
        operation_id="refuseVehicle",
        opt=permission(Action.ADMIT_VEHICLE),
    )
    async def refuse(self, passage_id: PathId, who: Caller, request: Request) -> PassageOut:
        return await service.refuse(who, passage_id, client_ip(request))

    @get("/api/communities/{community_id:int}/watch-list", operation_id="watchList", opt=WATCH)
    async def watch_list(self, community_id: PathId, who: Caller, request: Request) -> list[WatchOut]:
        """The community's watched plates (police only)."""
        return await service.watch_list(who, community_id, client_ip(request))

    @post(
        "/api/communities/{community_id:int}/watch-list",
        status_code=HTTP_201_CREATED,
        operation_id="watchPlate",
        opt=WATCH,
    )
    async def watch(
        self, community_id: PathId, data: JSONBody[WatchIn], who: Caller, request: Request
    ) -> WatchOut:
        return await service.watch(who, community_id, data, client_ip(request))

    @post(
        "/api/watch-list/{entry_id:int}/remove",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="unwatchPlate",
        opt=WATCH,
    )
    async def unwatch(self, entry_id: PathId, who: Caller, request: Request) -> None:
        await service.unwatch(who, entry_id, client_ip(request))
