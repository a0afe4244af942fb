from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get
from litestar.params import QueryParameter

from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from backend.probes import service
from backend.probes.schemas import ProbeCoverageOut, SightingOut
from roles import Action

COMMUNITY = "/api/communities/{community_id:int}"
MacQuery = Annotated[str | None, QueryParameter(max_length=20)]


class ProbeController(Controller):
    tags = ["probes"]

    @get(f"{COMMUNITY}/sightings", operation_id="macSightings", opt=permission(Action.SEARCH_SIGHTINGS))
    async def sightings(
        self, community_id: PathId, who: Caller, ctx: Ctx, request: Request, mac: MacQuery = None
    ) -> list[SightingOut]:
        """Where the community's probes saw a MAC (newest first, with the probe's place); police only."""
        return await service.sightings(ctx, who, community_id, mac, client_ip(request))

    @get(
        f"{COMMUNITY}/probes/coverage",
        operation_id="probeCoverage",
        opt=permission(Action.VIEW_PROBE_COVERAGE),
    )
    async def coverage(self, community_id: PathId, who: Caller, ctx: Ctx) -> ProbeCoverageOut:
        """The community's entrances without an online Wi-Fi probe."""
        return await service.coverage_view(ctx, who, community_id)
