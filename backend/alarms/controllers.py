from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, delete, get, post, put
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.alarms import service
from backend.alarms.kinds import Category, State
from backend.alarms.schemas import (
    AlarmDetail,
    AlarmOut,
    ArmingIn,
    ArmingOut,
    ButtonOut,
    MapOut,
    PairingIn,
    StepIn,
    ThresholdIn,
    ThresholdOut,
    UsageOut,
    ZoneIn,
    ZoneOut,
)
from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from roles import Action

Limit = Annotated[int, QueryParameter(ge=1, le=service.LIST_LIMIT)]
Hours = Annotated[int, QueryParameter(ge=1, le=24 * 366)]


class AlarmController(Controller):
    tags = ["alarms"]

    @get(
        "/api/communities/{community_id:int}/alarms",
        operation_id="listAlarms",
        opt=permission(Action.VIEW_ALARMS),
    )
    async def alarms(
        self,
        community_id: PathId,
        who: Caller,
        wanted: Annotated[State | None, QueryParameter(name="state")] = None,
        category: Annotated[Category | None, QueryParameter()] = None,
        limit: Limit = service.LIST_LIMIT,
    ) -> list[AlarmOut]:
        """A community's alarms, open ones first."""
        return await service.list_alarms(who, community_id, wanted, category, limit)

    @get("/api/alarms/{alarm_id:int}", operation_id="getAlarm", opt=permission(Action.VIEW_ALARMS))
    async def alarm(self, alarm_id: PathId, ctx: Ctx, who: Caller, request: Request) -> AlarmDetail:
        """One alarm with its history (and a button's paired person: audited)."""
        return await service.alarm_detail(ctx, who, alarm_id, client_ip(request))

    @post(
        "/api/alarms/{alarm_id:int}/steps",
        operation_id="handleAlarm",
        opt=permission(Action.HANDLE_ALARM),
    )
    async def step(
        self, alarm_id: PathId, data: JSONBody[StepIn], ctx: Ctx, who: Caller, request: Request
    ) -> AlarmOut:
        """Acknowledge, dispatch, resolve or call a false alarm, with a note."""
        return await service.step(ctx, who, alarm_id, data, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/zones",
        operation_id="listZones",
        opt=permission(Action.VIEW_ALARMS),
    )
    async def zones(self, community_id: PathId, who: Caller) -> list[ZoneOut]:
        return await service.list_zones(who, community_id)

    @get(
        "/api/communities/{community_id:int}/map",
        operation_id="communityMap",
        opt=permission(Action.VIEW_ALARMS),
    )
    async def map(self, community_id: PathId, who: Caller) -> MapOut:
        """The board's map: buildings, gates and zones (with their cameras) in map coordinates."""
        return await service.community_map(who, community_id)

    @post(
        "/api/zones",
        status_code=HTTP_201_CREATED,
        operation_id="createZone",
        opt=permission(Action.MANAGE_ZONES),
    )
    async def create_zone(self, data: JSONBody[ZoneIn], who: Caller, request: Request) -> ZoneOut:
        return await service.save_zone(who, data, client_ip(request))

    @put("/api/zones/{zone_id:int}", operation_id="updateZone", opt=permission(Action.MANAGE_ZONES))
    async def update_zone(
        self, zone_id: PathId, data: JSONBody[ZoneIn], who: Caller, request: Request
    ) -> ZoneOut:
        return await service.save_zone(who, data, client_ip(request), zone_id)

    @delete(
        "/api/zones/{zone_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="deleteZone",
        opt=permission(Action.MANAGE_ZONES),
    )
    async def delete_zone(self, zone_id: PathId, who: Caller, request: Request) -> None:
        await service.delete_zone(who, zone_id, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/arming",
        operation_id="armingSchedule",
        opt=permission(Action.VIEW_ALARMS),
    )
    async def arming(self, community_id: PathId, who: Caller) -> list[ArmingOut]:
        """The community's arming schedule (分区、分时、分级设防): which perimeter and video-analytics
        events raise alarms, where, when and at what level."""
        return await service.arming_schedule(who, community_id)

    @post(
        "/api/communities/{community_id:int}/arming",
        status_code=HTTP_201_CREATED,
        operation_id="addArmingRule",
        opt=permission(Action.MANAGE_ZONES),
    )
    async def add_arming(
        self, community_id: PathId, data: JSONBody[ArmingIn], who: Caller, request: Request
    ) -> ArmingOut:
        return await service.add_arming(who, community_id, data, client_ip(request))

    @delete(
        "/api/arming/{rule_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="deleteArmingRule",
        opt=permission(Action.MANAGE_ZONES),
    )
    async def delete_arming(self, rule_id: PathId, who: Caller, request: Request) -> None:
        await service.delete_arming(who, rule_id, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/thresholds",
        operation_id="listThresholds",
        opt=permission(Action.VIEW_ALARMS),
    )
    async def thresholds(self, community_id: PathId, who: Caller) -> list[ThresholdOut]:
        """Built-in defaults, the community's own limits and device overrides."""
        return await service.list_thresholds(who, community_id)

    @put(
        "/api/communities/{community_id:int}/thresholds",
        operation_id="setThreshold",
        opt=permission(Action.MANAGE_THRESHOLDS),
    )
    async def set_threshold(
        self, community_id: PathId, data: JSONBody[ThresholdIn], who: Caller, request: Request
    ) -> list[ThresholdOut]:
        return await service.set_threshold(who, community_id, data, client_ip(request))

    @get(
        "/api/devices/{device_id:int}/usage",
        operation_id="meterUsage",
        opt=permission(Action.VIEW_ALARMS),
    )
    async def usage(self, device_id: PathId, who: Caller, hours: Hours = 24) -> list[UsageOut]:
        """A meter's use per hour (readings, sum, min, max, last) over the last ``hours``."""
        return await service.meter_usage(who, device_id, hours)

    @get(
        "/api/communities/{community_id:int}/buttons",
        operation_id="listButtons",
        opt=permission(Action.VIEW_ALARMS),
    )
    async def buttons(self, community_id: PathId, who: Caller) -> list[ButtonOut]:
        """Emergency buttons with battery, last seen and their flat."""
        return await service.community_buttons(who, community_id)

    @get(
        "/api/houses/{house_id:int}/buttons",
        operation_id="listHouseButtons",
        opt=permission(Action.PAIR_BUTTON),
    )
    async def house_buttons(self, house_id: PathId, who: Caller) -> list[ButtonOut]:
        return await service.house_buttons(who, house_id)

    @post(
        "/api/buttons/pairings",
        status_code=HTTP_201_CREATED,
        operation_id="pairButton",
        opt=permission(Action.PAIR_BUTTON),
    )
    async def pair(self, data: JSONBody[PairingIn], ctx: Ctx, who: Caller, request: Request) -> ButtonOut:
        """Pair a button (the serial in its QR) with a verified resident of a flat."""
        return await service.pair_button(ctx, who, data, client_ip(request))

    @delete(
        "/api/houses/{house_id:int}/buttons/{device_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="unpairButton",
        opt=permission(Action.PAIR_BUTTON),
    )
    async def unpair(self, house_id: PathId, device_id: PathId, who: Caller, request: Request) -> None:
        await service.unpair_button(who, house_id, device_id, client_ip(request))
