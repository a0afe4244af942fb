from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.credentials import service
from backend.credentials.schemas import CredentialIn, CredentialIssued, CredentialOut
from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from roles import Action

EITHER = permission(Action.MANAGE_CREDENTIALS, Action.MANAGE_OWN_CREDENTIALS)


class CredentialController(Controller):
    tags = ["credentials"]

    @post(
        "/api/houses/{house_id:int}/credentials",
        status_code=HTTP_201_CREATED,
        operation_id="registerCredential",
        opt=EITHER,
    )
    async def register(
        self, house_id: PathId, data: JSONBody[CredentialIn], ctx: Ctx, who: Caller, request: Request
    ) -> CredentialIssued:
        """Register a card or ID card (staff), or a PIN or tag (staff, or a resident for their household)."""
        return await service.register(ctx, who, house_id, data, client_ip(request))

    @get("/api/houses/{house_id:int}/credentials", operation_id="householdCredentials", opt=EITHER)
    async def household(
        self, house_id: PathId, ctx: Ctx, who: Caller, request: Request
    ) -> list[CredentialOut]:
        """The household's active credentials, numbers masked."""
        return await service.household(ctx, who, house_id, client_ip(request))

    @post(
        "/api/credentials/{credential_id:int}/revoke",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="revokeCredential",
        opt=EITHER,
    )
    async def revoke(self, credential_id: PathId, who: Caller, request: Request) -> None:
        """End a lost or returned credential at once."""
        await service.revoke(who, credential_id, client_ip(request))
