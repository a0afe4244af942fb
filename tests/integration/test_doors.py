"""Phone door opening end to end: API → signed command over Mosquitto → simulated device → ack."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from backend.access.tables import AccessGrant, AccessRecord, Door
from backend.accounts.tables import Account
from backend.devices.ingest import build_bridge
from backend.devices.service import fleet
from backend.devices.tables import Device
from backend.registry.tables import Person
from device_bridge import protocol
from device_bridge.bridge import running
from device_bridge.protocol import Channel
from device_bridge.simulator import Simulator
from device_bridge.transport import client_options
from roles import Role
from tests.integration.test_bridge import eventually, unique


@contextlib.asynccontextmanager
async def simulated(world, settings):
    """The home community's bridge and devices, until every device has reported online."""
    devices = await fleet(world.ctx, world.home)
    simulator = Simulator(
        settings.broker,
        devices,
        settings.mqtt_prefix,
        event_interval=60,
        state_dir=Path(settings.var_dir) / "devices",
    )
    async with running(build_bridge(settings, world.ctx.keys, unique("doors"), batch_seconds=0.01)):
        task = asyncio.create_task(simulator.run())
        try:
            await eventually(lambda: _all_online(world.home, len(devices)), 10)
            yield simulator
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await simulator.forget()


def opened(simulator: Simulator) -> list[str]:
    """Command ids the simulated doors executed."""
    return [command for device in simulator.devices.values() for command in device.opened]


async def _all_online(community: int, count: int) -> bool:
    return await Device.count().where((Device.community == community) & (Device.online == True)) == count  # noqa: E712


async def unit_door(world) -> dict:
    """The unit door of the resident's own flat."""
    return (
        await Door.select()
        .where((Door.community == world.home) & (Door.kind == "unit"))
        .order_by(Door.id)
        .first()
    )


async def test_a_resident_sees_and_opens_their_doors(world, settings):
    headers = await world.headers(Role.RESIDENT)
    doors = (await world.client.get("/api/doors", headers=headers)).json()
    assert {d["kind"] for d in doors} == {"gate", "unit"}
    door = await unit_door(world)
    assert door["id"] in [d["id"] for d in doors]
    async with simulated(world, settings) as simulator:
        response = await world.client.post(f"/api/doors/{door['id']}/open", headers=headers)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["opened"] is True
        assert result["command_id"] in opened(simulator)
    record = await AccessRecord.objects().where(AccessRecord.method == "phone").first()
    assert record.granted and record.door == door["id"] and record.account is not None
    # The 门禁刷卡信息 fields name the resident as a credential pass would.
    assert (record.house, record.sk_fsdm) == (world.home_house, "05") and record.name
    person = await Person.objects().get(Person.id == record.person)
    assert record.name == person.name and record.id_number_sealed == person.id_number_encrypted


async def test_one_tap_retried_opens_once(world, settings):
    headers = {**await world.headers(Role.RESIDENT), "Idempotency-Key": "tap-0001-abcd"}
    door = await unit_door(world)
    async with simulated(world, settings) as simulator:
        first = await world.client.post(f"/api/doors/{door['id']}/open", headers=headers)
        second = await world.client.post(f"/api/doors/{door['id']}/open", headers=headers)
        assert first.json()["command_id"] == second.json()["command_id"]
        assert opened(simulator).count(first.json()["command_id"]) == 1
    assert await AccessRecord.count().where(AccessRecord.method == "phone") == 1


async def test_parallel_taps_with_one_key_send_one_command_and_all_get_its_answer(world, settings):
    """A double tap, or a retry racing the first request, must share the one command in flight."""
    headers = {**await world.headers(Role.RESIDENT), "Idempotency-Key": "tap-race-0001"}
    door = await unit_door(world)
    async with simulated(world, settings) as simulator:
        responses = await asyncio.gather(
            *(world.client.post(f"/api/doors/{door['id']}/open", headers=headers) for _ in range(5))
        )
        assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
        answers = [r.json() for r in responses]
        assert all(a == answers[0] for a in answers[1:]) and answers[0]["opened"] is True
        assert opened(simulator) == [answers[0]["command_id"]]
    assert await AccessRecord.count().where(AccessRecord.method == "phone") == 1


async def test_a_retry_after_the_device_forgot_the_command_does_not_open_again(world, settings):
    """Devices remember executed ids only for their freshness window; the platform answers from its record."""
    headers = {**await world.headers(Role.RESIDENT), "Idempotency-Key": "tap-late-retry"}
    door = await unit_door(world)
    async with simulated(world, settings):
        first = await world.client.post(f"/api/doors/{door['id']}/open", headers=headers)
    shutil.rmtree(Path(settings.var_dir) / "devices")  # as after the window: the ids are forgotten
    async with simulated(world, settings) as simulator:
        retried = await world.client.post(f"/api/doors/{door['id']}/open", headers=headers)
        assert opened(simulator) == []
    assert first.status_code == retried.status_code == 200 and first.json() == retried.json()


async def test_an_offline_door_is_a_clear_error(world, settings):
    door = await unit_door(world)
    device = await Device.objects().get(Device.id == door["device"])
    async with simulated(world, settings) as simulator:
        await simulator.kill(device.code)
        await eventually(lambda: Device.exists().where((Device.id == device.id) & (Device.online == False)))  # noqa: E712
        response = await world.client.post(
            f"/api/doors/{door['id']}/open", headers=await world.headers(Role.RESIDENT)
        )
    assert response.status_code == 503 and response.json()["extra"]["code"] == "device_offline"


async def test_a_silent_device_times_out(world, settings):
    """Marked online, but nothing answers (the simulator is not running): 504, no pass recorded."""
    door = await unit_door(world)
    await Device.update({Device.online: True}).where(Device.id == door["device"])
    response = await world.client.post(
        f"/api/doors/{door['id']}/open", headers=await world.headers(Role.RESIDENT)
    )
    assert response.status_code == 504 and response.json()["extra"]["code"] == "device_timeout"
    assert await AccessRecord.count() == 0


async def test_staff_open_with_a_valid_grant_and_not_after_it_expires(world, settings):
    door = await unit_door(world)
    await Device.update({Device.online: True}).where(Device.id == door["device"])
    headers = await world.headers(Role.WARDEN)
    async with simulated(world, settings):
        assert (await world.client.post(f"/api/doors/{door['id']}/open", headers=headers)).status_code == 200
        yesterday = datetime.now(UTC) - timedelta(days=1)
        await AccessGrant.update({AccessGrant.valid_until: yesterday}).where(
            AccessGrant.community == world.home
        )
        expired = await world.client.post(f"/api/doors/{door['id']}/open", headers=headers)
    assert expired.status_code == 403
    assert (await world.client.get("/api/doors", headers=headers)).json() == []


async def test_an_ended_grant_stops_opening_at_once_and_only_its_community_may_end_it(world, settings):
    door = await unit_door(world)
    await Device.update({Device.online: True}).where(Device.id == door["device"])
    warden = await world.headers(Role.WARDEN)
    warden_id = (await Account.select(Account.id).where(Account.phone == world.phone(Role.WARDEN)).first())[
        "id"
    ]
    grant = (
        await AccessGrant.select(AccessGrant.id)
        .where((AccessGrant.community == world.home) & (AccessGrant.account == warden_id))
        .first()
    )["id"]
    url = f"/api/grants/{grant}/end"
    refused = {
        "another community's property": await world.client.post(
            url, headers=await world.headers(Role.PROPERTY, "other")
        ),
        "the grantee": await world.client.post(url, headers=warden),
        "anonymous": await world.client.post(url),
    }
    assert {who: r.status_code for who, r in refused.items()} == {
        "another community's property": 403,
        "the grantee": 403,
        "anonymous": 401,
    }
    async with simulated(world, settings):
        assert (await world.client.post(f"/api/doors/{door['id']}/open", headers=warden)).status_code == 200
        ended = await world.client.post(url, headers=await world.headers(Role.PROPERTY))
        assert ended.status_code == 204
        after = await world.client.post(f"/api/doors/{door['id']}/open", headers=warden)
    assert after.status_code == 403
    row = await AccessGrant.select(AccessGrant.valid_until).where(AccessGrant.id == grant).first()
    assert row["valid_until"] <= datetime.now(UTC)  # kept, as the record of when it ended
    assert (await world.client.post(url, headers=await world.headers(Role.PROPERTY))).status_code == 204
    missing = await world.client.post("/api/grants/999999/end", headers=await world.headers(Role.PROPERTY))
    assert missing.status_code == 404


@pytest.mark.parametrize("role,community", [(Role.WARDEN, "other"), (Role.POLICE, "other")])
async def test_other_communities_staff_cannot_open(world, role, community):
    door = await unit_door(world)
    response = await world.client.post(
        f"/api/doors/{door['id']}/open", headers=await world.headers(role, community)
    )
    assert response.status_code == 403


async def test_a_resident_cannot_open_or_see_the_next_units_door(world, settings):
    """Unit 2 of the resident's own building: same community, same building, not their door."""
    own, neighbours = await (
        Door.select().where((Door.community == world.home) & (Door.kind == "unit")).order_by(Door.id)
    )
    assert own["building"] == neighbours["building"] and own["unit"] != neighbours["unit"]
    headers = await world.headers(Role.RESIDENT)
    visible = [d["id"] for d in (await world.client.get("/api/doors", headers=headers)).json()]
    assert own["id"] in visible and neighbours["id"] not in visible
    async with simulated(world, settings) as simulator:
        response = await world.client.post(f"/api/doors/{neighbours['id']}/open", headers=headers)
        assert response.status_code == 403
        assert opened(simulator) == []
    assert await AccessRecord.count() == 0


async def test_a_resident_cannot_open_another_communitys_door(world):
    other_unit = await Door.select().where((Door.community == world.other) & (Door.kind == "unit")).first()
    response = await world.client.post(
        f"/api/doors/{other_unit['id']}/open", headers=await world.headers(Role.RESIDENT)
    )
    assert response.status_code == 403


async def test_a_malformed_idempotency_key_is_a_clear_422(world):
    door = await unit_door(world)
    headers = {**await world.headers(Role.RESIDENT), "Idempotency-Key": "no spaces!"}
    response = await world.client.post(f"/api/doors/{door['id']}/open", headers=headers)
    assert response.status_code == 422 and response.json()["extra"]["code"] == "invalid_idempotency_key"


async def test_a_stale_ack_does_not_count_as_an_open(world, settings):
    """A device (or whoever replays its old acks) answering with a ts far outside the window is not believed."""
    door = await unit_door(world)
    device = await Device.objects().get(Device.id == door["device"])
    await Device.update({Device.online: True}).where(Device.id == device.id)
    community = (await device.get_related(Device.community)).code
    secret = world.ctx.keys.unseal(device.secret_sealed).encode()
    commands = protocol.topic(settings.mqtt_prefix, community, device.code, Channel.CMD)
    acks = protocol.topic(settings.mqtt_prefix, community, device.code, Channel.ACK)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)

    async def answer_with_a_stale_ack(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            command = protocol.decode(message.payload)
            ack = {"command": command.id, "ok": True}
            await client.publish(acks, protocol.encode(secret, acks, "ack-1", "ack", ack, an_hour_ago))

    async with aiomqtt.Client(**client_options(settings.broker)) as client:
        await client.subscribe(commands, qos=1)
        answering = asyncio.create_task(answer_with_a_stale_ack(client))
        try:
            response = await world.client.post(
                f"/api/doors/{door['id']}/open", headers=await world.headers(Role.RESIDENT)
            )
        finally:
            answering.cancel()
    assert response.status_code == 504 and response.json()["extra"]["code"] == "device_timeout"
    assert await AccessRecord.count() == 0
