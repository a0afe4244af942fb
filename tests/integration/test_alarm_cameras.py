"""An alarm names the registered camera watching its place (backend/video/watching.py), found from
the registries whenever it is shown: the zone's camera, the camera itself, then unit, building, gate."""

from __future__ import annotations

import msgspec

from backend.alarms.kinds import AlarmType
from backend.alarms.tables import PerimeterZone
from backend.devices.tables import Device, DeviceKind
from backend.live.tables import LiveEvent
from backend.registry.tables import Community
from backend.seed import _device
from backend.video.tables import Camera
from roles import Role
from tests.integration.test_alarms import device, signal


async def camera_of(world, suffix: str, community: str = "home") -> int:
    found = await device(world, suffix, community)
    return (await Camera.select(Camera.id).where(Camera.device == found.id).first())["id"]


async def listed(world, role: Role = Role.PROPERTY) -> dict[int, dict]:
    response = await world.client.get(
        f"/api/communities/{world.home}/alarms", headers=await world.headers(role)
    )
    assert response.status_code == 200, response.text
    return {a["id"]: a for a in response.json()}


async def test_each_alarm_names_the_camera_watching_its_place(world):
    north, south = await camera_of(world, "cam-north"), await camera_of(world, "cam-south")
    unit1, gate1 = await camera_of(world, "cam-unit1"), await camera_of(world, "cam-gate1")
    [seeded] = (await listed(world)).values()  # the first zone's detector: tampered with
    assert seeded["camera_id"] == north

    intrusion = await signal(world, "pz-south", AlarmType.INTRUSION, "in-1")
    assert intrusion.camera_id == south
    # The camera's own alarm (video loss) is at the camera.
    loss = await signal(world, "cam-parking", AlarmType.VIDEO_LOSS, "vl-1")
    assert loss.camera_id == await camera_of(world, "cam-parking")
    # Smoke in the first building: the camera at its first unit's door watches that building.
    smoke = await signal(world, "b1-smoke", AlarmType.SMOKE, "sm-1")
    assert smoke.camera_id == unit1
    # A face gate's tamper: the gate's camera.
    gate_device = await Device.select(Device.code).where(Device.code.like("%-gate%")).first()
    gate = await signal(world, gate_device["code"].split("-", 1)[1], AlarmType.TAMPER, "tg-1")
    assert gate.camera_id == gate1
    # A water meter of the first building: that building's camera too.
    meter = await signal(world, "meter-water", AlarmType.DEVICE_OFFLINE, "off-1")
    assert meter.camera_id == unit1
    # A sensor placed nowhere a camera watches: none.
    community = await Community.objects().get(Community.id == world.home)
    await _device(world.ctx, community, "leak-nowhere", DeviceKind.LEAK_SENSOR, "无处水浸").save()
    nothing = await signal(world, "leak-nowhere", AlarmType.WATER_LEAK, "lk-1")
    assert nothing.camera_id is None

    shown = await listed(world)
    assert {a: shown[a]["camera_id"] for a in (intrusion.id, loss.id, smoke.id, gate.id, nothing.id)} == {
        intrusion.id: south,
        loss.id: loss.camera_id,
        smoke.id: unit1,
        gate.id: gate1,
        nothing.id: None,
    }
    detail = await world.client.get(f"/api/alarms/{intrusion.id}", headers=await world.headers(Role.POLICE))
    assert detail.json()["alarm"]["camera_id"] == south
    # The board's pop-up opens from the live stream: the event names the camera too.
    events = [
        msgspec.json.decode(e["payload"]) for e in await LiveEvent.select().where(LiveEvent.topic == "alarm")
    ]
    assert {e["id"]: e["camera_id"] for e in events}[intrusion.id] == south


async def test_the_camera_is_read_from_the_registry_not_copied_onto_the_alarm(world):
    [seeded] = (await listed(world)).values()
    zone = (
        await PerimeterZone.select()
        .where(PerimeterZone.community == world.home)
        .order_by(PerimeterZone.id)
        .first()
    )
    south_device = (await device(world, "cam-south")).id
    await PerimeterZone.update({PerimeterZone.cameras: f"[{south_device}]"}).where(
        PerimeterZone.id == zone["id"]
    )
    assert (await listed(world))[seeded["id"]]["camera_id"] == await camera_of(world, "cam-south")
    await PerimeterZone.update({PerimeterZone.cameras: "[]"}).where(PerimeterZone.id == zone["id"])
    assert (await listed(world))[seeded["id"]]["camera_id"] is None
    # A camera taken off the video registry is no longer offered.
    await PerimeterZone.update({PerimeterZone.cameras: f"[{south_device}]"}).where(
        PerimeterZone.id == zone["id"]
    )
    await Camera.delete().where(Camera.device == south_device)
    assert (await listed(world))[seeded["id"]]["camera_id"] is None


async def test_another_communitys_camera_is_never_named(world):
    # The other community's north camera stands at a gate id of ours would not match: only our cameras count.
    await Camera.delete().where(Camera.community == world.home)
    assert [a["camera_id"] for a in (await listed(world)).values()] == [None]
    smoke = await signal(world, "b1-smoke", AlarmType.SMOKE, "sm-2")
    assert smoke.camera_id is None
