from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.deps import Caller, Ctx, permission
from backend.ebikes import service
from backend.ebikes.schemas import EBikeIn, EBikeOut, TagCoverage, TagIn
from backend.ids import PathId
from backend.net import client_ip
from roles import Action

EITHER = permission(Action.MANAGE_CREDENTIALS, Action.MANAGE_OWN_CREDENTIALS)


class EBikeController(Controller):
    tags = ["e-bikes"]

    @post(
        "/api/houses/{house_id:int}/ebikes",
        status_code=HTTP_201_CREATED,
        operation_id="registerEBike",
        opt=EITHER,
    )
    async def register(
        self, house_id: PathId, data: JSONBody[EBikeIn], ctx: Ctx, who: Caller, request: Request
    ) -> EBikeOut:
        """Register a household member's e-bike, with its anti-theft tag if it has one."""
        return await service.register(ctx, who, house_id, data, client_ip(request))

    @get("/api/houses/{house_id:int}/ebikes", operation_id="householdEBikes", opt=EITHER)
    async def household(self, house_id: PathId, ctx: Ctx, who: Caller, request: Request) -> list[EBikeOut]:
        """The household's e-bikes, tag numbers masked."""
        return await service.household(ctx, who, house_id, client_ip(request))

    @post("/api/ebikes/{ebike_id:int}/tag", status_code=200, operation_id="tagEBike", opt=EITHER)
    async def tag(
        self, ebike_id: PathId, data: JSONBody[TagIn], ctx: Ctx, who: Caller, request: Request
    ) -> EBikeOut:
        """Fit an anti-theft tag to an e-bike that has none."""
        return await service.add_tag(ctx, who, ebike_id, data, client_ip(request))

    @post(
        "/api/ebikes/{ebike_id:int}/remove",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="removeEBike",
        opt=EITHER,
    )
    async def remove(self, ebike_id: PathId, who: Caller, request: Request) -> None:
        """An e-bike sold or scrapped leaves the registry; its tag is revoked."""
        await service.remove(who, ebike_id, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/ebike-coverage",
        operation_id="ebikeTagCoverage",
        opt=permission(Action.VIEW_METRICS),
    )
    async def coverage(self, community_id: PathId, who: Caller) -> TagCoverage:
        """E-bikes carrying an active tag over e-bikes registered (target ≥ 90 %)."""
        return await service.coverage(who, community_id)
