from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from backend.patrol import service
from backend.patrol.schemas import (
    PatrolSeen,
    RouteIn,
    RouteOut,
    RunIn,
    RunOut,
    ScanIn,
    ShiftIn,
    ShiftOut,
    TagOut,
)
from roles import Action

SheetPage = Annotated[int, Parameter(ge=1, le=1000)]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PatrolController(Controller):
    tags = ["patrol"]

    @get(
        "/api/communities/{community_id:int}/patrol/routes",
        operation_id="patrolRoutes",
        opt=permission(Action.VIEW_PATROLS),
    )
    async def routes(self, community_id: PathId, who: Caller) -> list[RouteOut]:
        """The community's patrol routes: checkpoints in order (with their live tags) and shifts."""
        return await service.routes(who, community_id)

    @get(
        "/api/plates/{token:str}/patrols", operation_id="patrolsAtPlate", opt=permission(Action.VIEW_PATROLS)
    )
    async def seen_at_plate(
        self, token: FromPath[str], ctx: Ctx, who: Caller, request: Request
    ) -> list[PatrolSeen]:
        """The latest checkpoint scans in the plate's building (or at its gate)."""
        return await service.seen_at_plate(ctx, who, token, client_ip(request))

    @post(
        "/api/communities/{community_id:int}/patrol/routes",
        status_code=HTTP_201_CREATED,
        operation_id="createPatrolRoute",
        opt=permission(Action.MANAGE_PATROLS),
    )
    async def create_route(
        self, community_id: PathId, data: JSONBody[RouteIn], who: Caller, request: Request
    ) -> RouteOut:
        """A route of checkpoints, in the order given; each gets a QR tag."""
        return await service.create_route(who, community_id, data, client_ip(request))

    @post(
        "/api/patrol/routes/{route_id:int}/shifts",
        status_code=HTTP_201_CREATED,
        operation_id="addPatrolShift",
        opt=permission(Action.MANAGE_PATROLS),
    )
    async def add_shift(
        self, route_id: PathId, data: JSONBody[ShiftIn], who: Caller, request: Request
    ) -> ShiftOut:
        """A daily window (local time; ends before it starts: crosses midnight) with a round every N minutes."""
        return await service.add_shift(who, route_id, data, client_ip(request))

    @get(
        "/api/patrol/routes/{route_id:int}/tags.svg",
        operation_id="patrolTagSheet",
        opt=permission(Action.MANAGE_PATROLS),
    )
    async def tag_sheet(self, route_id: PathId, ctx: Ctx, who: Caller, page: SheetPage = 1) -> Response[str]:
        """One printable A4 SVG page of the route's checkpoint tags; ``X-Page-Count`` says how many there are."""
        svg, pages = await service.tag_sheet(ctx, who, route_id, page)
        return Response(svg, media_type="image/svg+xml", headers={"X-Page-Count": str(pages)})

    @post(
        "/api/patrol/checkpoints/{checkpoint_id:int}/tag/replace",
        status_code=HTTP_200_OK,
        operation_id="replacePatrolTag",
        opt=permission(Action.MANAGE_PATROLS),
    )
    async def replace_tag(self, checkpoint_id: PathId, ctx: Ctx, who: Caller, request: Request) -> TagOut:
        """Withdraw a checkpoint's tag (its code stops counting at once) and issue its successor."""
        return await service.replace_tag(ctx, who, checkpoint_id, client_ip(request))

    @post(
        "/api/patrol/runs",
        status_code=HTTP_201_CREATED,
        operation_id="startPatrolRun",
        opt=permission(Action.PATROL),
    )
    async def start_run(self, data: JSONBody[RunIn], who: Caller) -> RunOut:
        """Start a run on the shift's current round."""
        return await service.start_run(who, data.shift_id, _now())

    @get(
        "/api/patrol/runs/{run_id:int}",
        operation_id="patrolRun",
        opt=permission(Action.RECORD_PATROL, Action.VIEW_PATROLS),
    )
    async def run(self, run_id: PathId, who: Caller) -> RunOut:
        return await service.run_view(who, run_id)

    @post(
        "/api/patrol/runs/{run_id:int}/scans",
        status_code=HTTP_201_CREATED,
        operation_id="recordPatrolScan",
        opt=permission(Action.RECORD_PATROL),
    )
    async def scan(self, run_id: PathId, data: JSONBody[ScanIn], ctx: Ctx, who: Caller) -> RunOut:
        """A checkpoint's tag scanned by the guard of this run (with the phone's position, if given)."""
        return await service.record_scan(ctx, who, run_id, data, _now())

    @post(
        "/api/patrol/runs/{run_id:int}/end",
        status_code=HTTP_200_OK,
        operation_id="endPatrolRun",
        opt=permission(Action.RECORD_PATROL),
    )
    async def end(self, run_id: PathId, who: Caller) -> RunOut:
        """End the run: missed, out-of-order, early and late checkpoints are flagged now."""
        return await service.end_run(who, run_id)

    @get(
        "/api/communities/{community_id:int}/patrol/runs",
        operation_id="patrolRuns",
        opt=permission(Action.VIEW_PATROLS),
    )
    async def runs(self, community_id: PathId, who: Caller) -> list[RunOut]:
        """Recent runs of the community, newest first, with their flags."""
        return await service.runs(who, community_id)
