from __future__ import annotations

from litestar import Controller, get

from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.uplink import service
from backend.uplink.schemas import UplinkStatus
from roles import Action


class UplinkController(Controller):
    tags = ["uplink"]

    @get(
        "/api/communities/{community_id:int}/uplink",
        operation_id="communityUplinkStatus",
        opt=permission(Action.VIEW_UPLINK),
    )
    async def community(self, community_id: PathId, ctx: Ctx, who: Caller) -> UplinkStatus:
        """The community's records owed to the police platform: per table pending, sent and rejected,
        the lag (the oldest pending record's age), the latest success and failure, recent rejections."""
        return await service.community_status(ctx.settings, who, community_id)

    @get(
        "/api/districts/{district_id:int}/uplink",
        operation_id="districtUplinkStatus",
        opt=permission(Action.VIEW_DISTRICT_UPLINK),
    )
    async def district(self, district_id: PathId, ctx: Ctx, who: Caller) -> UplinkStatus:
        """The same for every community of the district."""
        return await service.district_status(ctx.settings, who, district_id)
