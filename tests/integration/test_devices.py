"""Provisioning places a device: its model (设备型号) and a flat of its own community, never another's."""

from __future__ import annotations

import pytest

from backend.devices.tables import Device
from backend.registry.tables import Building, Gate, House, Unit
from roles import Role


def smoke_sensor(world, code: str, **place) -> dict:
    return {
        "community_id": world.home,
        "code": code,
        "kind": "smoke_sensor",
        "name": "厨房烟感",
        "model": "JTY-GD-H361",
        **place,
    }


async def provision(world, body: dict):
    return await world.client.post("/api/devices", json=body, headers=await world.headers(Role.MAINTENANCE))


async def test_a_device_placed_in_a_flat_takes_its_building_and_unit_and_keeps_its_model(world):
    created = await provision(world, smoke_sensor(world, "flat-smoke-1", house_id=world.home_house))
    assert created.status_code == 201, created.text
    assert created.json()["device"]["model"] == "JTY-GD-H361"
    device = await Device.objects().get(Device.code == "flat-smoke-1")
    house = await House.objects().get(House.id == world.home_house)
    assert (device.house, device.building, device.unit) == (house.id, house.building, house.unit)
    listed = await world.client.get(
        f"/api/communities/{world.home}/devices", headers=await world.headers(Role.MAINTENANCE)
    )
    assert next(d for d in listed.json() if d["code"] == "flat-smoke-1")["model"] == "JTY-GD-H361"


@pytest.mark.parametrize("place", ["gate", "building", "unit", "house"])
async def test_a_place_of_another_community_is_refused_and_nothing_is_provisioned(world, place):
    """Maintenance staff of this community naming another community's gate, building, unit or flat
    (ids are sequential: easy to guess) would hang their device on the other community's map."""
    table = {"gate": Gate, "building": Building, "unit": Unit, "house": House}[place]
    foreign = await table.select(table.id).where(table.community == world.other).first()
    refused = await provision(world, smoke_sensor(world, f"stray-{place}", **{f"{place}_id": foreign["id"]}))
    assert refused.status_code == 422, refused.text
    assert refused.json()["extra"] == {"code": "not_in_community", "field": f"{place}_id"}
    assert not await Device.exists().where(Device.code == f"stray-{place}")


async def test_an_unknown_place_and_an_overlong_model_are_refused(world):
    unknown = await provision(world, smoke_sensor(world, "lost-1", unit_id=999_999))
    assert unknown.status_code == 422 and unknown.json()["extra"]["field"] == "unit_id"
    long_model = await provision(world, {**smoke_sensor(world, "long-1"), "model": "M" * 31})
    assert long_model.status_code == 400
