from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import FromQuery, JSONBody, QueryParameter

from backend.analytics import service
from backend.analytics.schemas import CloseIn, FindingOut
from backend.analytics.tables import FindingState, RuleName
from backend.deps import Caller, permission
from backend.ids import PathId
from backend.net import client_ip
from roles import Action


class FindingController(Controller):
    tags = ["analysis"]

    @get(
        "/api/communities/{community_id:int}/findings",
        operation_id="communityFindings",
        opt=permission(Action.VIEW_FINDINGS),
    )
    async def list_findings(
        self,
        community_id: PathId,
        who: Caller,
        request: Request,
        finding_state: Annotated[FindingState | None, QueryParameter(name="state")] = None,
        rule: FromQuery[RuleName | None] = None,
    ) -> list[FindingOut]:
        """The analysis (研判) findings of a community, newest first (重点人员 ones: police only);
        ``state`` (open, closed) and ``rule`` filter them."""
        return await service.community_findings(who, community_id, finding_state, rule, client_ip(request))

    @post(
        "/api/findings/{finding_id:int}/close",
        status_code=200,
        operation_id="closeFinding",
        opt=permission(Action.HANDLE_FINDING),
    )
    async def close(
        self, finding_id: PathId, who: Caller, request: Request, data: JSONBody[CloseIn]
    ) -> FindingOut:
        """Close a finding (a welfare task: the person was visited), with a note."""
        return await service.close(who, finding_id, data, client_ip(request))
