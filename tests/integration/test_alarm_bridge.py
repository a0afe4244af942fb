"""Alarms from devices, through the real broker and a bridge worker: what is raised, folded and refused."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import msgspec
import pytest

from backend.alarms.tables import Alarm, MeterUsage
from backend.devices.tables import Device
from backend.live.tables import LiveEvent, PushOutbox
from backend.registry.tables import Address, Community, House
from device_bridge import protocol
from device_bridge.bridge import running
from device_bridge.protocol import Channel
from device_bridge.transport import client_options
from roles import Role
from tests.integration.test_bridge import eventually, new_bridge
from tests.integration.test_edge import edge_for

PAYLOADS = Path(__file__).parent.parent / "unit" / "device_payloads"


class Devices:
    """Signs and publishes as a seeded device of the home community, with its real secret."""

    def __init__(self, world, settings) -> None:
        self.world, self.settings = world, settings

    async def device(self, suffix: str) -> tuple[Device, str]:
        code = (await Community.objects().get(Community.id == self.world.home)).code
        return await Device.objects().get(Device.code == f"{code}-{suffix}"), code

    async def publish(
        self,
        suffix: str,
        items: list[tuple[str, str, dict]],
        *,
        channel: Channel = Channel.EVENT,
        ts: datetime | None = None,
        secret: bytes | None = None,
    ) -> list[bytes]:
        device, community = await self.device(suffix)
        name = protocol.topic(self.settings.mqtt_prefix, community, device.code, channel)
        real = self.world.ctx.keys.unseal(device.secret_sealed).encode()
        payloads = [protocol.encode(secret or real, name, i, t, data, ts) for i, t, data in items]
        await self.send(name, payloads)
        return payloads

    async def send(self, name: str, payloads: list[bytes]) -> None:
        async with aiomqtt.Client(**client_options(self.settings.broker)) as client:
            for payload in payloads:
                await client.publish(name, payload, qos=1)


@pytest.fixture
def devices(world, settings) -> Devices:
    return Devices(world, settings)


async def settled(bridge, accepted: int) -> None:
    """Until the bridge has taken ``accepted`` messages and a moment more (for anything it should not)."""
    await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] >= accepted))


def alarms_of(type: str):
    return Alarm.select().where(Alarm.type == type)


async def test_a_button_press_makes_one_alarm_with_the_flat_and_reaches_push_and_the_live_stream(
    world, settings, devices
):
    async with running(new_bridge(world, settings)):
        await devices.publish("sos-1", [("press-1", "alarm", {"kind": "emergency"})])
        await eventually(lambda: alarms_of("emergency").first())
    [alarm] = await alarms_of("emergency")
    house = await House.objects().get(House.id == world.home_house)
    assert alarm["location"] == (await Address.objects().get(Address.id == house.address)).text
    assert alarm["house"] == house.id and alarm["state"] == "new"
    pushed = await PushOutbox.select(PushOutbox.account)
    assert len(pushed) == 3  # the community's police and warden, and the flat's resident
    [event] = await LiveEvent.select().where(LiveEvent.topic == "alarm")
    assert msgspec.json.decode(event["payload"])["id"] == alarm["id"]


async def test_duplicate_sensor_events_make_one_alarm(world, settings, devices):
    async with running(new_bridge(world, settings)) as bridge:
        captured = await devices.publish(
            "b1-smoke", [(f"smoke-{n}", "alarm", {"kind": "smoke", "active": True}) for n in range(3)]
        )
        device, community = await devices.device("b1-smoke")
        await devices.send(
            protocol.topic(settings.mqtt_prefix, community, device.code, Channel.EVENT), captured * 2
        )
        await settled(bridge, 9)
    [alarm] = await alarms_of("smoke")
    assert alarm["signals"] == 3  # the replayed copies changed nothing


async def test_a_zigbee2mqtt_smoke_payload_and_a_frigate_zone_entry_make_the_right_alarms(world, settings):
    property_ = await world.headers(Role.PROPERTY)
    maintenance = await world.headers(Role.MAINTENANCE)
    smoke = {"community_id": world.home, "code": "hallway_smoke", "kind": "smoke_sensor", "name": "走廊烟感"}
    assert (await world.client.post("/api/devices", json=smoke, headers=maintenance)).status_code == 201
    recorded = json.loads((PAYLOADS / "frigate_event_new_in_zone.json").read_bytes())
    for moment in ("before", "after"):
        recorded[moment].update(frame_time=time.time(), start_time=time.time())
    camera = {"community_id": world.home, "code": "gate_north", "kind": "camera", "name": "北门摄像机"}
    created = await world.client.post("/api/devices", json=camera, headers=maintenance)
    zone = {
        "community_id": world.home,
        "name": "北门围栏",
        "code": "perimeter_fence",
        "polygon": [[400, 0], [600, 0], [600, 40], [400, 40]],
        "cameras": [created.json()["device"]["id"]],
    }
    zone_id = (await world.client.post("/api/zones", json=zone, headers=property_)).json()["id"]
    z2m, frigate = f"{settings.mqtt_prefix}z2m", f"{settings.mqtt_prefix}frigate"
    async with (
        running(new_bridge(world, settings)),
        edge_for(world, settings, "zigbee2mqtt", z2m),
        edge_for(world, settings, "frigate", frigate),
    ):
        async with aiomqtt.Client(**client_options(settings.broker)) as gateway:
            await gateway.publish(
                f"{z2m}/hallway_smoke", (PAYLOADS / "z2m_heiman_smoke.json").read_bytes(), qos=1
            )
            await gateway.publish(f"{frigate}/events", json.dumps(recorded).encode(), qos=1)
        await eventually(lambda: alarms_of("intrusion").first(), seconds=10)
        await eventually(lambda: alarms_of("smoke").first(), seconds=10)
    [fire] = await alarms_of("smoke")
    assert fire["location"] == "走廊烟感" and fire["severity"] == "critical"
    [intrusion] = await alarms_of("intrusion")
    assert intrusion["zone"] == zone_id and intrusion["location"].startswith("北门围栏")
    assert msgspec.json.decode(intrusion["cameras"]) == [created.json()["device"]["id"]]


async def test_a_threshold_crossing_from_readings_raises_one_alarm_and_usage_is_kept_per_hour(
    world, settings, devices
):
    values = [0.32, 0.31, 0.05, 0.04, 0.05, 0.3]  # MPa; the default low limit is 0.15
    start = datetime.now(UTC) - timedelta(seconds=len(values))
    items = [
        (f"r-{n}", "reading", {"meter": "hydrant_pressure", "value": v, "unit": "MPa"})
        for n, v in enumerate(values)
    ]
    async with running(new_bridge(world, settings)) as bridge:
        for n, item in enumerate(items):  # one at a time, each with its own signed time
            await devices.publish("hydrant-1", [item], ts=start + timedelta(seconds=n))
        await settled(bridge, len(items))
        await eventually(lambda: Alarm.exists().where(Alarm.cleared_at.is_not_null()))
    [alarm] = await alarms_of("hydrant_pressure")
    assert alarm["signals"] == 3 and alarm["reading"] == 0.05 and alarm["threshold"] == "0.15–0.8 MPa"
    usage = await MeterUsage.select()
    assert sum(row["readings"] for row in usage) == len(values)
    assert min(row["low"] for row in usage) == 0.04 and max(row["high"] for row in usage) == 0.32
    device, _ = await devices.device("hydrant-1")
    url = f"/api/devices/{device.id}/usage"
    served = await world.client.get(url, headers=await world.headers(Role.PROPERTY))
    assert sum(hour["readings"] for hour in served.json()) == len(values)
    for role, community in ((Role.RESIDENT, "home"), (Role.PROPERTY, "other")):
        assert (await world.client.get(url, headers=await world.headers(role, community))).status_code == 403


async def test_battery_from_heartbeats_is_stored_and_a_low_one_raises_its_alarm(world, settings, devices):
    async with running(new_bridge(world, settings)) as bridge:
        await devices.publish("sos-1", [("hb-1", "heartbeat", {"battery": 64})])
        await settled(bridge, 1)
        await devices.publish("sos-1", [("hb-2", "heartbeat", {"battery": 12})])
        await eventually(lambda: alarms_of("low_battery").first())
    device, _ = await devices.device("sos-1")
    assert (await Device.objects().get(Device.id == device.id)).battery == 12
    [alarm] = await alarms_of("low_battery")
    assert alarm["detail"] == "12%"


async def test_a_device_going_offline_raises_an_offline_alarm_cleared_when_it_returns(
    world, settings, devices
):
    now = datetime.now(UTC)
    async with running(new_bridge(world, settings)) as bridge:
        await devices.publish("b1-leak", [("st-1", "state", {"online": True})], channel=Channel.STATE, ts=now)
        await settled(bridge, 1)
        later = now + timedelta(seconds=1)
        await devices.publish(
            "b1-leak", [("st-2", "state", {"online": False})], channel=Channel.STATE, ts=later
        )
        await eventually(lambda: alarms_of("device_offline").first())
        back = now + timedelta(seconds=2)
        await devices.publish(
            "b1-leak", [("st-3", "state", {"online": True})], channel=Channel.STATE, ts=back
        )
        await eventually(
            lambda: Alarm.exists().where((Alarm.type == "device_offline") & Alarm.cleared_at.is_not_null())
        )
    assert len(await alarms_of("device_offline")) == 1


async def test_forged_and_stale_messages_raise_no_alarm(world, settings, devices):
    async with running(new_bridge(world, settings)) as bridge:
        await devices.publish("sos-1", [("forged-1", "alarm", {"kind": "emergency"})], secret=b"guessed" * 5)
        stale = datetime.now(UTC) - timedelta(seconds=settings.device_clock_skew_seconds + 60)
        await devices.publish("sos-1", [("stale-1", "alarm", {"kind": "emergency"})], ts=stale)
        await devices.publish("b1-smoke", [("sync", "heartbeat", {})])  # arrives after the two above
        await settled(bridge, 1)
    assert bridge.counts["forged"] == 1 and bridge.counts["stale"] == 1
    assert await Alarm.count().where(Alarm.type == "emergency") == 0
