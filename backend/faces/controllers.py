from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.deps import Caller, Ctx, permission
from backend.faces import service
from backend.faces.schemas import ConsentOut, EnrolmentOut
from backend.guards import RAW_BODY
from backend.ids import PathId
from backend.net import client_ip
from backend.photos import PHOTO_MAX_BYTES
from roles import Action

EITHER = permission(Action.ENROL_FACE, Action.ENROL_OWN_FACE)


class FaceController(Controller):
    tags = ["faces"]

    @get("/api/faces/consent", operation_id="faceConsent")
    async def consent(self) -> ConsentOut:
        """The consent text a face enrolment must accept, and its version."""
        return service.consent()

    @post(
        "/api/houses/{house_id:int}/people/{person_id:int}/face",
        status_code=HTTP_201_CREATED,
        operation_id="enrolFace",
        request_max_body_size=PHOTO_MAX_BYTES,
        opt={**EITHER, RAW_BODY: True},
    )
    async def enrol(
        self,
        house_id: PathId,
        person_id: PathId,
        ctx: Ctx,
        who: Caller,
        request: Request,
        consent: Annotated[str, QueryParameter(max_length=20)] = "",
        consent_note: Annotated[str, QueryParameter(max_length=200)] = "",
    ) -> EnrolmentOut:
        """Enrol a household member's face: the photo as the raw body (JPEG, PNG or WebP, at most
        5 MB); ``consent`` is the accepted consent text's version; staff add ``consent_note``."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        return await service.enrol(
            ctx,
            who,
            house_id,
            person_id,
            consent,
            consent_note,
            request.body,
            content_type,
            client_ip(request),
        )

    @get("/api/houses/{house_id:int}/faces", operation_id="householdFaces", opt=EITHER)
    async def household(self, house_id: PathId, who: Caller, request: Request) -> list[EnrolmentOut]:
        """The household's enrolments (no images)."""
        return await service.household(who, house_id, client_ip(request))

    @get(
        "/api/faces/{face_id:int}/photo",
        operation_id="facePhoto",
        opt=permission(Action.VIEW_FACE_IMAGE),
    )
    async def photo(self, face_id: PathId, ctx: Ctx, who: Caller, request: Request) -> Response[bytes]:
        """An enrolment's photo: for the resident who enrolled it, and (audited) property staff and police."""
        jpeg = await service.photo(ctx, who, face_id, client_ip(request))
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})

    @delete(
        "/api/faces/{face_id:int}", status_code=HTTP_204_NO_CONTENT, operation_id="deleteFace", opt=EITHER
    )
    async def delete(self, face_id: PathId, who: Caller, request: Request) -> None:
        """Delete an enrolment: its embedding and photo are gone at once."""
        await service.delete(who, face_id, client_ip(request))
