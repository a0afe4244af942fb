from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import anyio
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, MultipartBody, Parameter
from litestar.status_codes import HTTP_200_OK

from backend.deps import Caller, Ctx, permission
from backend.doorplates import service
from backend.doorplates.schemas import DecodedPlate, PlateReplaced, ScanView
from backend.errors import Invalid
from backend.guards import RAW_BODY, undecodable_form
from backend.ids import PathId
from backend.net import client_ip, spend
from qr.decode import UnreadableImage, decode_image
from roles import Action

PHOTO_LIMIT = 8 * 1024 * 1024


@dataclass
class PlatePhoto:
    """The multipart form of a photo to decode (also what the OpenAPI tells clients to send)."""

    image: UploadFile | None = None


PLATE_PATH = re.compile(r"/d/([A-Za-z0-9_-]{16})/?$")


class ScanController(Controller):
    path = "/api/scan"
    tags = ["doorplates"]

    @get("/{token:str}", operation_id="scanPlate", opt=permission(Action.VIEW_PLATE))
    async def scan(self, token: FromPath[str], ctx: Ctx, who: Caller, request: Request) -> ScanView:
        """What this doorplate shows to the caller: the view depends on role and scope."""
        return await service.scan(ctx, who, token, client_ip(request))

    @post(
        "/decode",
        status_code=HTTP_200_OK,
        operation_id="decodePlatePhoto",
        request_max_body_size=PHOTO_LIMIT,
        opt={RAW_BODY: True},
        exception_handlers={
            UnicodeDecodeError: undecodable_form("send the photo as the file field 'image'", "image")
        },
    )
    async def decode(self, data: MultipartBody[PlatePhoto], ctx: Ctx, request: Request) -> DecodedPlate:
        """Find a doorplate code in a photo (for browsers without a barcode detector)."""
        budget = ctx.settings.decodes_per_minute
        await spend(ctx, "decode", client_ip(request), budget=budget, seconds=60, what="photos to decode")
        upload = data.image
        if not isinstance(upload, UploadFile):
            raise Invalid("no_image", "Send the photo as the multipart field 'image'", field="image")
        content = await upload.read()
        try:
            texts = await anyio.to_thread.run_sync(decode_image, content)
        except UnreadableImage as exc:
            raise Invalid("unreadable_image", str(exc), field="image") from None
        for text in texts:
            if found := PLATE_PATH.search(text):
                return DecodedPlate(token=found[1])
        raise Invalid("no_code", "No doorplate code found in the photo", field="image")


SheetPage = Annotated[int, Parameter(ge=1, le=1000)]


class PlateController(Controller):
    path = "/api/plates"
    tags = ["doorplates"]

    @post(
        "/{token:str}/replace",
        status_code=HTTP_200_OK,
        operation_id="replacePlate",
        opt=permission(Action.MANAGE_PLATES),
    )
    async def replace(self, token: FromPath[str], who: Caller, request: Request) -> PlateReplaced:
        """Withdraw a doorplate (its URL stops working at once) and issue its successor."""
        return await service.replace_plate(who, token, client_ip(request))


class PlateSheetController(Controller):
    tags = ["doorplates"]

    @get(
        "/api/communities/{community_id:int}/plates.svg",
        operation_id="plateSheet",
        opt=permission(Action.MANAGE_PLATES),
    )
    async def sheet(self, community_id: PathId, ctx: Ctx, who: Caller, page: SheetPage = 1) -> Response[str]:
        """One printable A4 SVG page of the community's live doorplates; ``X-Page-Count`` says how many."""
        svg, pages = await service.sheet_page(ctx, who, community_id, page)
        return Response(svg, media_type="image/svg+xml", headers={"X-Page-Count": str(pages)})
