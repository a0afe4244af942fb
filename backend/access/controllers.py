from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.access import records, service
from backend.access.records import Filters, Paging
from backend.access.schemas import DoorOpened, DoorOut, GrantIn, GrantListed, GrantOut, PassPage
from backend.deps import Caller, Ctx, permission
from backend.ids import MAX_ID, PathId
from backend.net import client_ip
from backend.registry.tables import Community
from device_bridge.protocol import AccessMethod
from roles import Action

QueryId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
Before = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID, description="next_before of the page before")]
Limit = Annotated[int, QueryParameter(ge=1, le=records.PAGE_MAX)]
PassFilters = NamedDependency[Filters]  # parameter name: filters
Page = NamedDependency[Paging]  # parameter name: page


async def pass_filters(
    door_id: QueryId = None,
    person_id: QueryId = None,
    method: FromQuery[AccessMethod | None] = None,
    since: FromQuery[dt.datetime | None] = None,
    until: FromQuery[dt.datetime | None] = None,
) -> Filters:
    """Filters of the access-record routes, from the query: door, person, method, [since, until)."""
    return Filters(door_id=door_id, person_id=person_id, method=method, since=since, until=until)


async def paging(before: Before = None, limit: Limit = 50) -> Paging:
    """Newest first, ``limit`` a page; ``before`` is the previous page's ``next_before``."""
    return Paging(before=before, limit=limit)


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

    @post(
        "/api/grants/{grant_id:int}/end",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="endGrant",
        opt=permission(Action.GRANT_ACCESS),
    )
    async def end_grant(self, grant_id: PathId, who: Caller, request: Request) -> None:
        """End a grant at once: its holder's doors stop opening for it on the next tap."""
        await service.end_grant(who, grant_id, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/grants",
        operation_id="communityGrants",
        opt=permission(Action.GRANT_ACCESS),
    )
    async def grants(self, community_id: PathId, who: Caller) -> list[GrantListed]:
        """The grants of the community that have not ended, with whom they let in and where."""
        return await service.community_grants(who, community_id)


class AccessRecordController(Controller):
    """Who passed which door (门禁刷卡信息), newest first."""

    tags = ["access"]
    dependencies = {"filters": Provide(pass_filters), "page": Provide(paging)}

    @get(
        "/api/communities/{community_id:int}/access-records",
        operation_id="communityAccessRecords",
        opt=permission(Action.VIEW_ACCESS_RECORDS),
    )
    async def community(
        self, community_id: PathId, filters: PassFilters, page: Page, ctx: Ctx, who: Caller, request: Request
    ) -> PassPage:
        return await records.community_passes(ctx, who, community_id, filters, page, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/access-records.csv",
        operation_id="exportAccessRecords",
        opt=permission(Action.VIEW_ACCESS_RECORDS),
    )
    async def export(
        self, community_id: PathId, filters: PassFilters, ctx: Ctx, who: Caller, request: Request
    ) -> Stream:
        """The filtered records as CSV (UTF-8 with BOM, data-standard field names), streamed."""
        rows = await records.community_export(ctx, who, community_id, filters, client_ip(request))
        return Stream(
            rows,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="access-records-{community_id}.csv"'},
        )

    @get(
        "/api/houses/{house_id:int}/access-records",
        operation_id="householdAccessRecords",
        opt=permission(Action.VIEW_ACCESS_RECORDS, Action.VIEW_HOUSEHOLD_PASSES),
    )
    async def household(
        self, house_id: PathId, filters: PassFilters, page: Page, ctx: Ctx, who: Caller, request: Request
    ) -> PassPage:
        """A household's passes: its residents see them, as do wardens and police of the community."""
        return await records.household_passes(ctx, who, house_id, filters, page, client_ip(request))

    @get(
        "/api/me/access-records", operation_id="myAccessRecords", opt=permission(Action.VIEW_HOUSEHOLD_PASSES)
    )
    async def mine(
        self, filters: PassFilters, page: Page, ctx: Ctx, who: Caller, request: Request
    ) -> PassPage:
        """A resident's own households' passes (the PWA's "my passes")."""
        return await records.my_passes(ctx, who, filters, page, client_ip(request))
