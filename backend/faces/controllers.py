from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.deps import Caller, Ctx, permission
from backend.devices import intake
from backend.faces import ongate, service, watch
from backend.faces.schemas import ConsentOut, EnrolmentOut, FacePassageOut, WatchOut
from backend.guards import RAW_BODY
from backend.ids import PathId
from backend.net import client_ip
from backend.photos import PHOTO_MAX_BYTES
from roles import Action

EITHER = permission(Action.ENROL_FACE, Action.ENROL_OWN_FACE)
WATCH = permission(Action.MANAGE_WATCH_LIST)
PRIVATE_JPEG = {"Cache-Control": "private, no-store"}


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


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
        return await service.enrol(
            ctx,
            who,
            house_id,
            person_id,
            consent,
            consent_note,
            request.body,
            _content_type(request),
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
        return Response(jpeg, media_type="image/jpeg", headers=PRIVATE_JPEG)

    @delete(
        "/api/faces/{face_id:int}", status_code=HTTP_204_NO_CONTENT, operation_id="deleteFace", opt=EITHER
    )
    async def delete(self, face_id: PathId, ctx: Ctx, who: Caller, request: Request) -> None:
        """Delete an enrolment: its embedding and photo are gone at once (and from the gates)."""
        await service.delete(ctx, who, face_id, client_ip(request))


class FaceWatchController(Controller):
    """The police face watch list, its sightings' captures, and the face gates' records."""

    tags = ["faces"]

    @get("/api/communities/{community_id:int}/face-watch", operation_id="faceWatchList", opt=WATCH)
    async def watch_list(self, community_id: PathId, who: Caller, request: Request) -> list[WatchOut]:
        """The community's watched faces (police only, audited)."""
        return await watch.watch_list(who, community_id, client_ip(request))

    @post(
        "/api/communities/{community_id:int}/face-watch",
        status_code=HTTP_201_CREATED,
        operation_id="watchFace",
        request_max_body_size=PHOTO_MAX_BYTES,
        opt={**WATCH, RAW_BODY: True},
    )
    async def watch(
        self,
        community_id: PathId,
        ctx: Ctx,
        who: Caller,
        request: Request,
        name: Annotated[str, QueryParameter(max_length=50)] = "",
        note: Annotated[str, QueryParameter(max_length=200)] = "",
    ) -> WatchOut:
        """Watch a face (police only): its reference photo as the raw body, checked as an enrolment's;
        a sighting at a face gate raises a police alarm with the capture."""
        return await watch.watch(
            ctx, who, community_id, name, note, request.body, _content_type(request), client_ip(request)
        )

    @delete(
        "/api/face-watch/{watch_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="unwatchFace",
        opt=WATCH,
    )
    async def unwatch(self, watch_id: PathId, who: Caller, request: Request) -> None:
        await watch.unwatch(who, watch_id, client_ip(request))

    @get("/api/face-watch/{watch_id:int}/photo", operation_id="faceWatchPhoto", opt=WATCH)
    async def photo(self, watch_id: PathId, ctx: Ctx, who: Caller, request: Request) -> Response[bytes]:
        jpeg = await watch.watch_photo(ctx, who, watch_id, client_ip(request))
        return Response(jpeg, media_type="image/jpeg", headers=PRIVATE_JPEG)

    @get("/api/alarms/{alarm_id:int}/capture", operation_id="sightingCapture", opt=WATCH)
    async def capture(self, alarm_id: PathId, ctx: Ctx, who: Caller, request: Request) -> Response[bytes]:
        """The capture of a watch-list sighting, while it is kept (ANJU_WATCH_CAPTURE_HOURS)."""
        image = await watch.sighting_capture(ctx, who, alarm_id, client_ip(request))
        media_type = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
        return Response(image, media_type=media_type, headers=PRIVATE_JPEG)

    @get(
        "/api/communities/{community_id:int}/face-passages",
        operation_id="facePassages",
        opt=permission(Action.VIEW_ACCESS_RECORDS),
    )
    async def passages(self, community_id: PathId, who: Caller, request: Request) -> list[FacePassageOut]:
        """The community's latest face gate decisions, newest first (audited)."""
        return await watch.passages(who, community_id, client_ip(request))


class FaceGateController(Controller):
    """Face gates that match on their own (backend/faces/ongate.py)."""

    tags = ["faces"]

    @put(
        "/api/devices/{device_id:int}/face-matching",
        operation_id="setFaceMatching",
        opt=permission(Action.MANAGE_DEVICES),
    )
    async def set_matching(
        self, device_id: PathId, data: JSONBody[ongate.MatchingIn], ctx: Ctx, who: Caller, request: Request
    ) -> ongate.MatchingOut:
        """Switch a face gate between matching on the platform and on the gate (its own gallery)."""
        return await ongate.set_matching(ctx, who, device_id, data.on_gate, client_ip(request))

    @get("/api/devices/face-gallery", operation_id="faceGateGallery")
    async def gallery(self, ctx: Ctx, request: Request) -> Response[ongate.GateGallery]:
        """A face gate's own gallery, for the gate itself (its device credentials, Digest or Basic)."""
        device = await intake.device_of(ctx, request)
        issued = await ongate.gallery(ctx, device, client_ip(request))
        return Response(issued, headers={"Cache-Control": "no-store"})
