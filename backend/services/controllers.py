from __future__ import annotations

from litestar import Controller, Request, Response, get, post, put
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.deps import Caller, permission
from backend.guards import RAW_BODY
from backend.ids import PathId
from backend.net import client_ip
from backend.photos import PHOTO_MAX_BYTES
from backend.services import service
from backend.services.schemas import CommunityTiles, RatingIn, RequestIn, RequestOut, StepIn, TileIn, TileOut
from roles import Action

REQUEST = "/api/service-requests/{request_id:int}"


class ServicesController(Controller):
    tags = ["services"]

    @get(
        "/api/communities/{community_id:int}/services",
        operation_id="serviceTiles",
        opt=permission(Action.VIEW_SERVICES),
    )
    async def tiles(self, community_id: PathId, who: Caller) -> list[TileOut]:
        """The community's service tiles (民生服务), in their order."""
        return await service.tiles(who, community_id)

    @get("/api/services/home", operation_id="homeServiceTiles", opt=permission(Action.USE_SERVICES))
    async def home_tiles(self, who: Caller) -> list[CommunityTiles]:
        """The tiles of the communities the caller lives in (none for staff)."""
        return await service.home_tiles(who)

    @post(
        "/api/communities/{community_id:int}/services",
        status_code=HTTP_201_CREATED,
        operation_id="addServiceTile",
        opt=permission(Action.MANAGE_SERVICES),
    )
    async def add_tile(
        self, community_id: PathId, data: JSONBody[TileIn], who: Caller, request: Request
    ) -> TileOut:
        return await service.add_tile(who, community_id, data, client_ip(request))

    @put(
        "/api/services/{tile_id:int}",
        operation_id="changeServiceTile",
        opt=permission(Action.MANAGE_SERVICES),
    )
    async def change_tile(
        self, tile_id: PathId, data: JSONBody[TileIn], who: Caller, request: Request
    ) -> TileOut:
        return await service.change_tile(who, tile_id, data, client_ip(request))

    @post(
        "/api/communities/{community_id:int}/service-requests",
        status_code=HTTP_201_CREATED,
        operation_id="fileServiceRequest",
        opt=permission(Action.REQUEST_SERVICE),
    )
    async def file(self, community_id: PathId, data: JSONBody[RequestIn], who: Caller) -> RequestOut:
        """A resident asks the property staff for something (a blocked pipe…); a photo may follow."""
        return await service.file_request(who, community_id, data)

    @get(
        "/api/communities/{community_id:int}/service-requests",
        operation_id="serviceRequestQueue",
        opt=permission(Action.HANDLE_SERVICE_REQUESTS),
    )
    async def queue(self, community_id: PathId, who: Caller, request: Request) -> list[RequestOut]:
        return await service.queue(who, community_id, client_ip(request))

    @get(
        "/api/service-requests/mine",
        operation_id="myServiceRequests",
        opt=permission(Action.USE_SERVICES),
    )
    async def mine(self, who: Caller) -> list[RequestOut]:
        """The caller's requests, newest first; ``unseen`` counts staff steps not read yet."""
        return await service.my_requests(who)

    @get(REQUEST, operation_id="serviceRequest", opt=permission(Action.VIEW_SERVICE_REQUEST))
    async def view(self, request_id: PathId, who: Caller, request: Request) -> RequestOut:
        return await service.view_request(who, request_id, client_ip(request))

    @post(
        f"{REQUEST}/steps",
        status_code=HTTP_200_OK,
        operation_id="serviceRequestStep",
        opt=permission(Action.HANDLE_SERVICE_REQUESTS),
    )
    async def step(
        self, request_id: PathId, data: JSONBody[StepIn], who: Caller, request: Request
    ) -> RequestOut:
        """Take (open → taken), add a note (taken) or close (taken → closed); other moves are refused."""
        return await service.step(who, request_id, data, client_ip(request))

    @post(
        f"{REQUEST}/rating",
        status_code=HTTP_200_OK,
        operation_id="rateServiceRequest",
        opt=permission(Action.OWN_SERVICE_REQUEST),
    )
    async def rate(self, request_id: PathId, data: JSONBody[RatingIn], who: Caller) -> RequestOut:
        return await service.rate(who, request_id, data)

    @put(
        f"{REQUEST}/photo",
        operation_id="attachServiceRequestPhoto",
        request_max_body_size=PHOTO_MAX_BYTES,
        opt={**permission(Action.OWN_SERVICE_REQUEST), RAW_BODY: True},
    )
    async def attach_photo(self, request_id: PathId, who: Caller, request: Request) -> RequestOut:
        """The photo as the raw body, Content-Type image/jpeg, image/png or image/webp (at most 5 MB)."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        return await service.attach_photo(who, request_id, request.body, content_type)

    @get(f"{REQUEST}/photo", operation_id="serviceRequestPhoto", opt=permission(Action.VIEW_SERVICE_REQUEST))
    async def photo(self, request_id: PathId, who: Caller, request: Request) -> Response[bytes]:
        """The photo (JPEG), for the requester and the community's property staff only."""
        jpeg = await service.photo(who, request_id, client_ip(request))
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
