from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import JSONBody

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
        state: FindingState | None = None,
        rule: RuleName | None = None,
    ) -> list[FindingOut]:
        """The analysis (研判) findings of a community, newest first (重点人员 ones: police only)."""
        return await service.community_findings(who, community_id, state, rule, client_ip(request))

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
