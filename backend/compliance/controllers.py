from __future__ import annotations

from litestar import Controller, Request, Response, get, put
from litestar.params import FromPath, JSONBody

from backend.compliance import service
from backend.compliance.schemas import ComplianceOut, DistrictComplianceOut, EntryIn, TierIn
from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from roles import Action

COMMUNITY = "/api/communities/{community_id:int}/compliance"


class ComplianceController(Controller):
    tags = ["compliance"]

    @get(COMMUNITY, operation_id="communityCompliance", opt=permission(Action.VIEW_COMPLIANCE))
    async def community(self, community_id: PathId, ctx: Ctx, who: Caller) -> ComplianceOut:
        """The self-assessment: subsystems against the tier's matrix, coverage targets, and the
        100-point score sheet item by item with its evidence; the total and the verdict (pass ≥ 90)."""
        return await service.community(ctx.settings, who, community_id)

    @put(
        f"{COMMUNITY}/items/{{item:str}}",
        operation_id="enterComplianceItem",
        opt=permission(Action.ENTER_COMPLIANCE),
    )
    async def enter(
        self,
        community_id: PathId,
        item: FromPath[str],
        data: JSONBody[EntryIn],
        ctx: Ctx,
        who: Caller,
        request: Request,
    ) -> ComplianceOut:
        """The police's score for an item no live data shows (the safety items): audited."""
        return await service.enter(ctx.settings, who, community_id, item, data, client_ip(request))

    @put(f"{COMMUNITY}/tier", operation_id="setComplianceTier", opt=permission(Action.ENTER_COMPLIANCE))
    async def tier(
        self, community_id: PathId, data: JSONBody[TierIn], ctx: Ctx, who: Caller, request: Request
    ) -> ComplianceOut:
        """The tier (示范/标准) the community is assessed against: audited."""
        return await service.set_tier(ctx.settings, who, community_id, data, client_ip(request))

    @get(f"{COMMUNITY}/sheet", operation_id="complianceSheet", opt=permission(Action.VIEW_COMPLIANCE))
    async def sheet(self, community_id: PathId, ctx: Ctx, who: Caller) -> Response[bytes]:
        """The score sheet as a PDF to print and sign."""
        pdf, name = await service.score_sheet(ctx.settings, who, community_id)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "private, no-store",
            },
        )

    @get(
        "/api/districts/{district_id:int}/compliance",
        operation_id="districtCompliance",
        opt=permission(Action.VIEW_DISTRICT_COMPLIANCE),
    )
    async def district(self, district_id: PathId, ctx: Ctx, who: Caller) -> DistrictComplianceOut:
        """Every community of the district: score, coverage, device health, open alarms, uplink lag."""
        return await service.district(ctx.settings, who, district_id)
