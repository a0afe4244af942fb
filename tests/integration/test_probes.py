"""Wi-Fi probes (无线上网安全管理系统): sightings through the real broker and a bridge worker, stored once
with the MAC sealed, found by the community's police alone; retention and the entrance coverage."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import pytest

from backend.audit.tables import AuditEntry
from backend.devices.ingest import transaction
from backend.devices.tables import Device, DeviceEvent, DeviceKind
from backend.probes.ingest import erase_old
from backend.probes.tables import Sighting
from backend.registry.tables import Gate
from device_bridge.bridge import running
from device_bridge.protocol import SightingKind
from roles import Role
from tests.integration.test_bridge import Fleet, eventually, new_bridge, played

MAC = "AA:BB:CC:00:11:22"


@contextlib.asynccontextmanager
async def probe(world, settings):
    """The home community's seeded probe, played by the simulator, with a bridge worker."""
    device = await _probe(world)
    async with (
        running(new_bridge(world, settings, "probes")) as bridge,
        played(world, settings, device.code) as simulator,
    ):
        await eventually(lambda: _online(device.id), 10)
        yield simulator, device, bridge


async def _probe(world) -> Device:
    return (
        await Device.objects()
        .where((Device.community == world.home) & (Device.kind == DeviceKind.WIFI_PROBE))
        .order_by(Device.id)
        .first()
    )


async def _online(device_id: int) -> bool:
    return await Device.exists().where((Device.id == device_id) & (Device.online == True))  # noqa: E712


async def _sightings(count: int) -> bool:
    return await Sighting.count() == count


async def search(world, role: Role | None, mac: str, side: str = "home"):
    return await world.client.get(
        f"/api/communities/{world.home}/sightings",
        params={"mac": mac},
        headers=await world.headers(role, side),
    )


async def coverage(world, role: Role = Role.PROPERTY) -> dict:
    response = await world.client.get(
        f"/api/communities/{world.home}/probes/coverage", headers=await world.headers(role)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_sighting_is_stored_once_sealed_and_found_by_the_police_alone(world, settings):
    async with probe(world, settings) as (simulator, device, bridge):
        await simulator.sight(device.code, "aa-bb-cc-00-11-22", rssi=-61)
        await eventually(lambda: _sightings(1), 10)
        # A redelivery (the same signed event, published again) is a no-op.
        payloads = await Fleet(world, settings).publish(
            DeviceKind.WIFI_PROBE, [("s-dup", "sighting", {"mac": "AABBCC001122", "kind": "rfid"})]
        )
        await eventually(lambda: _sightings(2), 10)
        accepted = bridge.counts["accepted"]
        await Fleet(world, settings).replay(DeviceKind.WIFI_PROBE, payloads * 2)
        await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] >= accepted + 2), 10)
    assert await Sighting.count() == 2
    rows = await Sighting.select().order_by(Sighting.id)
    assert MAC not in str(rows) and "AABBCC001122" not in str(rows).upper()
    assert {world.ctx.keys.unseal(r["mac_sealed"]) for r in rows} == {MAC}
    assert rows[0]["rssi"] == -61 and rows[1]["kind"] == SightingKind.RFID
    stored = await DeviceEvent.select(DeviceEvent.data).where(DeviceEvent.type == "sighting")
    assert len(stored) == 2 and "AABBCC001122" not in str(stored).upper().replace(":", "").replace("-", "")

    response = await search(world, Role.POLICE, "aa:bb:cc:00:11:22")
    assert response.status_code == 200, response.text
    found = response.json()
    assert [s["id"] for s in found] == [r["id"] for r in sorted(rows, key=lambda r: (r["at"], r["id"]))][::-1]
    gate = await Gate.objects().get(Gate.id == device.gate)
    assert found[0]["mac"] == MAC and found[0]["probe"] == device.name and found[0]["gate"] == gate.name
    assert await AuditEntry.exists().where(AuditEntry.action == "read_sightings")
    assert (await search(world, Role.POLICE, "AA:BB:CC:00:11:23")).json() == []
    assert (await search(world, Role.POLICE, "not-a-mac")).status_code == 422

    for role, side, status in (
        (Role.WARDEN, "home", 403),
        (Role.PROPERTY, "home", 403),
        (Role.RESIDENT, "home", 403),
        (Role.POLICE, "other", 403),
        (None, "home", 401),
    ):
        assert (await search(world, role, MAC, side)).status_code == status, (role, side)


@pytest.mark.parametrize("mac", ["AA:BB:CC:00:11", "GG:BB:CC:00:11:22", "AA:BB-CC:00:11:22", ""])
async def test_a_malformed_mac_is_refused_at_the_bridge(world, settings, mac):
    async with running(new_bridge(world, settings, "probes")) as bridge:
        await Fleet(world, settings).publish(DeviceKind.WIFI_PROBE, [("bad", "sighting", {"mac": mac})])
        await eventually(lambda: asyncio.sleep(0, bridge.counts["malformed"] == 1), 10)
    assert await Sighting.count() == 0
    assert not await DeviceEvent.exists().where(DeviceEvent.type == "sighting")


async def test_retention_deletes_old_sightings(world, settings):
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.sighting_retention_days + 1)).isoformat()
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.sighting_retention_days - 1)).isoformat()
    async with running(new_bridge(world, settings, "probes")):
        await Fleet(world, settings).publish(
            DeviceKind.WIFI_PROBE,
            [
                ("old", "sighting", {"mac": MAC, "seen_at": old}),
                ("new", "sighting", {"mac": MAC, "seen_at": recent}),
            ],
        )
        await eventually(lambda: _sightings(2), 10)
    await erase_old(transaction, settings)
    assert [row["key"].rsplit(":", 1)[1] for row in await Sighting.select(Sighting.key)] == ["new"]


async def test_coverage_lists_the_entrances_without_an_online_probe(world, settings):
    gates = await Gate.select(Gate.id, Gate.name).where(Gate.community == world.home)
    offline = await coverage(world)
    assert not offline["complete"] and offline["gates"] == len(gates)
    assert [(g["gate_id"], g["probes"]) for g in offline["gaps"]] == [(g["id"], 1) for g in gates]
    async with probe(world, settings) as (_, device, _):
        covered = await coverage(world, Role.POLICE)
        assert covered["complete"] and covered["gaps"] == []
        await Device.update({Device.gate: None}).where(Device.id == device.id)
        moved = await coverage(world)
        assert [(g["gate_id"], g["probes"]) for g in moved["gaps"]] == [(device.gate, 0)]
    for role in (Role.RESIDENT, Role.WARDEN):
        refused = await world.client.get(
            f"/api/communities/{world.home}/probes/coverage", headers=await world.headers(role)
        )
        assert refused.status_code == 403
