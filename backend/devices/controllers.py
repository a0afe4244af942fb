from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post, put
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.deps import Caller, Ctx, permission
from backend.devices import intake, service
from backend.devices.schemas import DeviceIn, DeviceOut, DeviceProvisioned, NotificationOut, StreamIn
from backend.guards import RAW_BODY, undecodable_form
from backend.ids import PathId
from backend.net import client_ip
from device_bridge.protocol import MAX_PAYLOAD, Direction
from roles import Action


class DeviceController(Controller):
    tags = ["devices"]

    @get(
        "/api/communities/{community_id:int}/devices",
        operation_id="listDevices",
        opt=permission(Action.VIEW_DEVICES),
    )
    async def devices(self, community_id: PathId, who: Caller) -> list[DeviceOut]:
        """Devices of a community with their online state, battery and last sign of life."""
        return await service.list_devices(who, community_id)

    @post(
        "/api/devices",
        status_code=HTTP_201_CREATED,
        operation_id="provisionDevice",
        opt=permission(Action.MANAGE_DEVICES),
    )
    async def provision(
        self, data: JSONBody[DeviceIn], ctx: Ctx, who: Caller, request: Request
    ) -> DeviceProvisioned:
        """Register a device; the response carries its signing secret, shown this once."""
        return await service.provision(ctx, who, data, client_ip(request))

    @post(
        "/api/devices/{device_id:int}/secret",
        status_code=HTTP_200_OK,
        operation_id="rotateDeviceSecret",
        opt=permission(Action.MANAGE_DEVICES),
    )
    async def rotate(self, device_id: PathId, ctx: Ctx, who: Caller, request: Request) -> DeviceProvisioned:
        """Give a device a new signing secret; the response carries it, shown this once."""
        return await service.rotate_secret(ctx, who, device_id, client_ip(request))

    @put(
        "/api/devices/{device_id:int}/stream-url",
        operation_id="setCameraStream",
        opt=permission(Action.MANAGE_DEVICES),
    )
    async def stream_url(
        self, device_id: PathId, data: JSONBody[StreamIn], who: Caller, request: Request
    ) -> DeviceOut:
        """A camera's live view for the board's alarm pop-up (rtsp(s) or http(s), no credentials)."""
        return await service.set_stream_url(who, device_id, data.stream_url, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/notifications",
        operation_id="maintenanceNotifications",
        opt=permission(Action.VIEW_DEVICES),
    )
    async def notifications(self, community_id: PathId, who: Caller) -> list[NotificationOut]:
        return await service.maintenance_notifications(who, community_id)


class IntakeController(Controller):
    """Device-authenticated pushes (not user routes): the device's own HTTP credentials."""

    tags = ["devices"]

    @post(
        "/api/devices/hikvision/events",
        status_code=HTTP_200_OK,
        operation_id="hikvisionEvents",
        request_max_body_size=intake.MAX_BYTES,
        opt={RAW_BODY: True},
        exception_handlers={UnicodeDecodeError: undecodable_form("send pictures as file parts")},
    )
    async def hikvision(self, ctx: Ctx, request: Request) -> intake.Received:
        """An access terminal's ISAPI event notification: multipart (JSON + picture) or bare JSON."""
        device = await intake.device_of(ctx, request)
        multipart = request.headers.get("content-type", "").startswith("multipart/")
        form = dict((await request.form()).multi_items()) if multipart else None
        payload, picture = await intake.notification_parts(
            form, await request.body() if form is None else b""
        )
        return await intake.hikvision_events(ctx, device, payload, picture)

    @post(
        "/api/devices/face-captures",
        status_code=HTTP_200_OK,
        operation_id="faceCapture",
        request_max_body_size=MAX_PAYLOAD,
        opt={RAW_BODY: True},
    )
    async def face_capture(
        self,
        ctx: Ctx,
        request: Request,
        id: Annotated[str, QueryParameter(max_length=64)] = "",
        direction: FromQuery[Direction] = Direction.IN,
        door: Annotated[str, QueryParameter(max_length=20)] = "",
    ) -> intake.CaptureDecision:
        """A face gate's capture (the raw body: a JPEG or PNG crop) under the gate's serial ``id``;
        the answer says whether to open. Device-authenticated, like the event push."""
        device = await intake.device_of(ctx, request)
        return await intake.face_capture(ctx, device, id, await request.body(), direction, door)
