from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED

from backend.deps import Caller, Ctx, permission
from backend.devices import service
from backend.devices.schemas import DeviceIn, DeviceOut, DeviceProvisioned, NotificationOut
from backend.ids import PathId
from backend.net import client_ip
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

    @get(
        "/api/communities/{community_id:int}/notifications",
        operation_id="maintenanceNotifications",
        opt=permission(Action.VIEW_DEVICES),
    )
    async def notifications(self, community_id: PathId, who: Caller) -> list[NotificationOut]:
        return await service.maintenance_notifications(who, community_id)
