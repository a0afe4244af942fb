"""Vendor payloads through the edge translator and the bridge, against the real broker."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import aiomqtt

from backend.devices.ingest import build_bridge
from backend.devices.service import community_secrets
from backend.devices.tables import DeviceEvent
from device_bridge.bridge import running
from device_bridge.edge import Edge
from device_bridge.transport import client_options
from roles import Role
from tests.background import in_background
from tests.integration.test_bridge import eventually, unique


@contextlib.asynccontextmanager
async def edge_for(world, settings, vendor: str, base: str):
    code, secrets = await community_secrets(world.ctx, world.home)
    edge = Edge(settings.broker, settings.mqtt_prefix, code, secrets, vendor, base)
    async with in_background(edge.run(), settle=0.3):  # subscribed
        yield edge


async def test_a_zigbee_panic_button_becomes_a_stored_alarm(world, settings):
    body = {
        "community_id": world.home,
        "code": "sos_button_7",
        "kind": "emergency_button",
        "name": "一键报警 7",
    }
    created = await world.client.post(
        "/api/devices", json=body, headers=await world.headers(Role.MAINTENANCE)
    )
    assert created.status_code == 201
    base = f"{settings.mqtt_prefix}z2m"
    async with (
        running(build_bridge(settings, world.ctx.keys, unique("edge"), batch_seconds=0.01)),
        edge_for(world, settings, "zigbee2mqtt", base) as edge,
    ):
        async with aiomqtt.Client(**client_options(settings.broker)) as gateway:
            press = json.dumps({"action": "emergency", "battery": 87, "linkquality": 120}).encode()
            await gateway.publish(f"{base}/sos_button_7", press, qos=1)
            await gateway.publish(f"{base}/not_registered", press, qos=1)
        await eventually(lambda: DeviceEvent.exists().where(DeviceEvent.type == "alarm"))
    alarm = await DeviceEvent.objects().where(DeviceEvent.type == "alarm").first()
    data = alarm.data if isinstance(alarm.data, dict) else json.loads(alarm.data)
    assert data["kind"] == "emergency" and data["active"] is True
    assert edge.counts["unregistered"] >= 1 and edge.counts["forwarded"] >= 1


async def test_a_frigate_zone_entry_becomes_an_intrusion_alarm(world, settings):
    recorded = json.loads(
        (
            Path(__file__).parent.parent / "unit" / "device_payloads" / "frigate_event_new_in_zone.json"
        ).read_bytes()
    )
    for moment in ("before", "after"):  # as live: the bridge refuses events outside its clock-skew window
        recorded[moment].update(frame_time=time.time(), start_time=time.time())
    camera = recorded["after"]["camera"]
    body = {"community_id": world.home, "code": camera, "kind": "camera", "name": "周界摄像机"}
    assert (
        await world.client.post("/api/devices", json=body, headers=await world.headers(Role.MAINTENANCE))
    ).status_code == 201
    base = f"{settings.mqtt_prefix}frigate"
    async with (
        running(build_bridge(settings, world.ctx.keys, unique("edge"), batch_seconds=0.01)),
        edge_for(world, settings, "frigate", base),
    ):
        async with aiomqtt.Client(**client_options(settings.broker)) as frigate:
            await frigate.publish(f"{base}/events", json.dumps(recorded).encode(), qos=1)
        await eventually(lambda: DeviceEvent.exists().where(DeviceEvent.type == "alarm"))
    alarm = await DeviceEvent.objects().where(DeviceEvent.type == "alarm").first()
    data = alarm.data if isinstance(alarm.data, dict) else json.loads(alarm.data)
    assert data["kind"] == "intrusion" and data["active"] is True
