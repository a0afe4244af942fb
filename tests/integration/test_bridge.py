"""The bridge against the machine's Mosquitto: verified, translated, stored once, split, watched."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from backend.access.tables import AccessRecord
from backend.devices.ingest import build_bridge, mark_silent_devices_offline, save_counters
from backend.devices.service import fleet as device_fleet
from backend.devices.tables import Device, DeviceEvent, DeviceKind, Notification
from device_bridge import protocol
from device_bridge.bridge import Bridge, running
from device_bridge.protocol import Channel
from device_bridge.simulator import Simulator, publish_events
from device_bridge.transport import client_options


class Fleet:
    """Publishes as the seeded devices would, with their real secrets."""

    def __init__(self, world, settings) -> None:
        self.world, self.settings = world, settings
        self.broker = settings.broker

    async def device(self, kind: DeviceKind) -> tuple[Device, str, bytes]:
        device = (
            await Device.objects()
            .where((Device.community == self.world.home) & (Device.kind == kind))
            .order_by(Device.id)  # the same one every time: an updated row moves in PostgreSQL's heap
            .first()
        )
        community = (await device.get_related(Device.community)).code
        return device, community, self.world.ctx.keys.unseal(device.secret_sealed).encode()

    async def publish(
        self,
        kind: DeviceKind,
        items: list[tuple[str, str, dict]],
        channel=Channel.EVENT,
        secret: bytes | None = None,
        retain: bool = False,
        ts: datetime | None = None,
    ) -> list[bytes]:
        """Signs and publishes ``items``; returns the payloads, as an eavesdropper would capture them."""
        device, community, real_secret = await self.device(kind)
        name = protocol.topic(self.settings.mqtt_prefix, community, device.code, channel)
        payloads = [
            protocol.encode(secret or real_secret, name, event_id, kind_of_event, data, ts)
            for event_id, kind_of_event, data in items
        ]
        await self.replay(kind, payloads, channel, retain)
        return payloads

    async def replay(
        self, kind: DeviceKind, payloads: list[bytes], channel=Channel.EVENT, retain: bool = False
    ) -> None:
        """Publishes captured payloads again, byte for byte, on the device's topic."""
        device, community, _ = await self.device(kind)
        name = protocol.topic(self.settings.mqtt_prefix, community, device.code, channel)
        async with aiomqtt.Client(**client_options(self.broker)) as client:
            for payload in payloads:
                await client.publish(name, payload, qos=1, retain=retain)

    async def publish_raw(self, topic_suffix: str, payload: bytes) -> None:
        async with aiomqtt.Client(**client_options(self.broker)) as client:
            await client.publish(f"{self.settings.mqtt_prefix}/{topic_suffix}", payload, qos=1)


async def eventually(check, seconds: float = 5.0):
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.05)


async def handled_so_far(bridge: Bridge, fleet: Fleet) -> None:
    """Wait until the bridge has taken everything published before: one publisher's messages arrive in order."""
    accepted = bridge.counts["accepted"]
    await fleet.publish(DeviceKind.FACE_GATE, [(f"sync-{secrets.token_hex(4)}", "access", ACCESS)])
    await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] > accepted))


def new_bridge(world, settings, worker="w1", **options) -> Bridge:
    return build_bridge(settings, world.ctx.keys, unique(worker), batch_seconds=0.01, **options)


@contextlib.asynccontextmanager
async def played(world, settings, device_code: str):
    """The home community's device ``device_code`` played by the simulator, online, until the block ends."""
    spec = [s for s in await device_fleet(world.ctx, world.home) if s.code == device_code]
    simulator = Simulator(
        settings.broker,
        spec,
        settings.mqtt_prefix,
        event_interval=3600,
        state_dir=Path(settings.var_dir) / "devices",
    )
    task = asyncio.create_task(simulator.run())
    try:
        await asyncio.wait_for(asyncio.gather(*(d.online.wait() for d in simulator.devices.values())), 10)
        yield simulator
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await simulator.forget()


def unique(worker: str) -> str:
    """A worker name no concurrent test run shares: the broker drops a client when its id connects again."""
    return f"{worker}-{secrets.token_hex(3)}"


@pytest.fixture
def fleet(world, settings) -> Fleet:
    return Fleet(world, settings)


ACCESS = {"method": "card", "direction": "in", "granted": True, "credential": "0012345678"}


async def test_an_access_event_is_stored_with_its_pass(world, settings, fleet):
    async with running(new_bridge(world, settings)):
        await fleet.publish(DeviceKind.FACE_GATE, [("e-1", "access", ACCESS)])
        await eventually(lambda: AccessRecord.exists().where(AccessRecord.key.like("ev:%")))
    record = await AccessRecord.objects().first()
    assert record.method == "card" and record.granted and record.credential == "0012345678"
    device = await Device.objects().get(Device.id == record.device)
    assert device.online and device.last_seen is not None


async def test_a_redelivered_event_is_stored_once(world, settings, fleet):
    async with running(new_bridge(world, settings)) as bridge:
        await fleet.publish(DeviceKind.FACE_GATE, [("e-dup", "access", ACCESS)] * 3)
        await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] == 3))
    assert await DeviceEvent.count() == 1 and await AccessRecord.count() == 1


async def test_id_card_numbers_are_masked_in_access_records(world, settings, fleet):
    data = {**ACCESS, "method": "id_card", "credential": "11010519491231002X"}
    async with running(new_bridge(world, settings)):
        await fleet.publish(DeviceKind.FACE_GATE, [("e-id", "access", data)])
        await eventually(lambda: AccessRecord.exists())
    assert (await AccessRecord.objects().first()).credential == "110***********002X"


async def test_forged_malformed_and_unknown_messages_are_refused_and_counted(world, settings, fleet):
    device, community, _ = await fleet.device(DeviceKind.FACE_GATE)
    async with running(new_bridge(world, settings)) as bridge:
        await fleet.publish(DeviceKind.FACE_GATE, [("f-1", "access", ACCESS)], secret=b"not-the-secret" * 3)
        await fleet.publish_raw(f"{community}/{device.code}/event", b"{not json")
        await fleet.publish_raw(
            f"{community}/ghost-device/event",
            b'{"id":"x","ts":"2026-01-01T00:00:00+08:00","type":"access","sig":"00"}',
        )
        await fleet.publish(DeviceKind.FACE_GATE, [("m-1", "access", {"method": "telepathy"})])
        await eventually(lambda: asyncio.sleep(0, sum(bridge.counts.values()) >= 4))
        # A genuine event still flows after all that.
        await fleet.publish(DeviceKind.FACE_GATE, [("ok-1", "access", ACCESS)])
        await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] == 1))
    assert bridge.counts["forged"] == 1 and bridge.counts["unknown_device"] == 1
    assert bridge.counts["malformed"] == 2
    assert await DeviceEvent.count() == 1


async def test_one_device_cannot_speak_for_another(world, settings, fleet):
    """A valid signature from device A on device B's topic is a forgery."""
    gate, community, gate_secret = await fleet.device(DeviceKind.FACE_GATE)
    sensor, _, _ = await fleet.device(DeviceKind.SMOKE_SENSOR)
    own_topic = protocol.topic(settings.mqtt_prefix, community, gate.code, Channel.EVENT)
    payload = protocol.encode(gate_secret, own_topic, "x-1", "alarm", {"kind": "smoke"})
    async with running(new_bridge(world, settings)) as bridge:
        await fleet.publish_raw(f"{community}/{sensor.code}/event", payload)
        await eventually(lambda: asyncio.sleep(0, bridge.counts["forged"] == 1))
    assert await DeviceEvent.count() == 0


async def test_a_last_will_marks_the_device_offline_and_tells_maintenance(world, settings, fleet):
    async with running(new_bridge(world, settings)):
        await fleet.publish(DeviceKind.INTERCOM, [("s-1", "state", {"online": True})], channel=Channel.STATE)
        device, _, _ = await fleet.device(DeviceKind.INTERCOM)
        await eventually(lambda: Device.exists().where((Device.id == device.id) & (Device.online == True)))  # noqa: E712
        await fleet.publish(DeviceKind.INTERCOM, [("s-2", "state", {"online": False})], channel=Channel.STATE)
        await eventually(lambda: Notification.exists().where(Notification.subject == f"device:{device.id}"))
    note = await Notification.objects().first()
    assert note.role == "maintenance" and note.kind == "device_offline" and note.community == world.home
    assert not (await Device.objects().get(Device.id == device.id)).online


async def test_a_silent_device_is_marked_offline(world, settings, fleet):
    device, _, _ = await fleet.device(DeviceKind.SMOKE_SENSOR)
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    await Device.update(
        {Device.online: True, Device.last_seen: long_ago, Device.heartbeat_seconds: 60}
    ).where(Device.id == device.id)
    async with running(new_bridge(world, settings, watch_seconds=0.1)):
        await eventually(lambda: Notification.exists().where(Notification.subject == f"device:{device.id}"))
    assert await Notification.count() == 1  # once, not every watch cycle


async def test_two_workers_share_the_events_with_none_lost_or_doubled(world, settings, fleet):
    count = 1000
    events = [(f"bulk-{i}", "access", ACCESS) for i in range(count)]
    first, second = new_bridge(world, settings, "w1"), new_bridge(world, settings, "w2")
    async with running(first), running(second):
        await fleet.publish(DeviceKind.FACE_GATE, events)
        await eventually(
            lambda: asyncio.sleep(0, first.counts["accepted"] + second.counts["accepted"] >= count), 30
        )
        await asyncio.sleep(0.2)  # anything doubled would arrive now
    assert first.counts["accepted"] > 0 and second.counts["accepted"] > 0
    assert first.counts["accepted"] + second.counts["accepted"] == count
    assert await DeviceEvent.count() == count and await AccessRecord.count() == count


async def test_workers_storing_many_devices_at_once_neither_deadlock_nor_lose(world, settings):
    """Each batch moves the last_seen of several devices, and the workers' batches overlap on them.

    Unordered, their row locks deadlocked on PostgreSQL and the losing worker died with its
    share of the events unacknowledged (bench/soak.py lost half of them).
    """
    devices = await device_fleet(world.ctx, world.home)
    workers = [new_bridge(world, settings, f"d{i}", batch_size=20) for i in range(4)]
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(running(worker))
        # About 2000 events in all, however many devices the seed has: the machine's Mosquitto queues
        # 1000 messages per session by default and drops beyond (README: max_queued_messages).
        each = 2000 // len(devices)
        sent = await asyncio.gather(
            *(publish_events(settings.broker, device, each, settings.mqtt_prefix) for device in devices)
        )
        total = sum(map(len, sent))
        await eventually(lambda: asyncio.sleep(0, sum(w.stored for w in workers) >= total), 60)
    assert all(worker.stored for worker in workers)
    assert await DeviceEvent.count() == total and await AccessRecord.count() == total


async def test_counters_are_saved_per_worker(world, settings, fleet):
    from backend.devices.tables import BridgeCounter

    bridge = new_bridge(world, settings, f"w-{secrets.token_hex(2)}")
    async with running(bridge):
        await fleet.publish(DeviceKind.FACE_GATE, [("c-1", "access", ACCESS)], secret=b"x" * 32)
        await eventually(lambda: asyncio.sleep(0, bridge.counts["forged"] == 1))
        await save_counters(bridge)
    row = await BridgeCounter.objects().where(BridgeCounter.reason == "forged").first()
    assert row.worker == bridge.worker and row.count == 1


async def test_a_provisioned_device_speaks_with_its_own_secret(world, settings):
    from roles import Role

    headers = await world.headers(Role.MAINTENANCE)
    body = {
        "community_id": world.home,
        "code": "new-magnet-1",
        "kind": "door_magnet",
        "name": "消防门门磁",
        "heartbeat_seconds": 30,
    }
    provisioned = await world.client.post("/api/devices", json=body, headers=headers)
    assert provisioned.status_code == 201, provisioned.text
    secret, prefix = provisioned.json()["secret"].encode(), provisioned.json()["topic_prefix"]
    assert prefix == f"{settings.mqtt_prefix}/420112001001/new-magnet-1"
    again = await world.client.post("/api/devices", json=body, headers=headers)
    assert again.status_code == 409
    account = settings.broker.as_user(
        provisioned.json()["mqtt_username"], provisioned.json()["mqtt_password"]
    )
    async with running(new_bridge(world, settings)) as bridge:
        async with aiomqtt.Client(**client_options(account)) as client:
            name = f"{prefix}/event"
            await client.publish(
                name, protocol.encode(secret, name, "m-1", "alarm", {"kind": "door_open"}), qos=1
            )
        await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] == 1))
    listed = (await world.client.get(f"/api/communities/{world.home}/devices", headers=headers)).json()
    magnet = next(d for d in listed if d["code"] == "new-magnet-1")
    assert magnet["online"] and magnet["heartbeat_seconds"] == 30 and "secret" not in magnet


async def test_events_outside_the_clock_skew_window_are_refused_as_stale(world, settings, fleet):
    an_hour = timedelta(hours=1)  # the default window is five minutes
    async with running(new_bridge(world, settings)) as bridge:
        for name, ts in (("late", datetime.now(UTC) - an_hour), ("early", datetime.now(UTC) + an_hour)):
            await fleet.publish(DeviceKind.FACE_GATE, [(name, "access", ACCESS)], ts=ts)
        await fleet.publish(DeviceKind.FACE_GATE, [("fresh-1", "access", ACCESS)])
        await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] + bridge.counts["stale"] >= 3))
    assert bridge.counts["stale"] == 2 and bridge.counts["accepted"] == 1
    assert await DeviceEvent.count() == 1 and await AccessRecord.count() == 1


async def test_a_replayed_heartbeat_neither_rewinds_last_seen_nor_raises_an_offline_alarm(
    world, settings, fleet
):
    device, _, _ = await fleet.device(DeviceKind.SMOKE_SENSOR)
    await Device.update({Device.heartbeat_seconds: 60}).where(Device.id == device.id)
    earlier = datetime.now(UTC) - timedelta(seconds=200)  # still inside the skew window
    bridge = new_bridge(world, settings)
    async with running(bridge):
        captured = await fleet.publish(DeviceKind.SMOKE_SENSOR, [("hb-old", "heartbeat", {})], ts=earlier)
        await fleet.publish(DeviceKind.SMOKE_SENSOR, [("hb-new", "heartbeat", {})])
        await eventually(lambda: Device.exists().where(Device.last_seen > earlier + timedelta(seconds=150)))
        await fleet.replay(DeviceKind.SMOKE_SENSOR, captured)
        await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] == 3))
    seen = (await Device.objects().get(Device.id == device.id)).last_seen
    assert seen > earlier + timedelta(seconds=150), f"last_seen rewound to {seen}"
    await mark_silent_devices_offline()
    assert (await Device.objects().get(Device.id == device.id)).online
    assert await Notification.count() == 0


async def test_a_replayed_old_offline_state_does_not_flip_an_online_device(world, settings, fleet):
    device, _, _ = await fleet.device(DeviceKind.INTERCOM)
    async with running(new_bridge(world, settings)) as bridge:
        # Captured an hour ago: the will of an earlier session, published when that session died.
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        offline = [("s-old", "state", {"online": False})]
        captured = await fleet.publish(DeviceKind.INTERCOM, offline, channel=Channel.STATE, ts=an_hour_ago)
        await fleet.publish(
            DeviceKind.INTERCOM, [("s-now", "state", {"online": True})], channel=Channel.STATE
        )
        await eventually(lambda: Device.exists().where((Device.id == device.id) & (Device.online == True)))  # noqa: E712
        await Notification.delete(force=True)
        await fleet.replay(DeviceKind.INTERCOM, captured, Channel.STATE)
        await handled_so_far(bridge, fleet)
    assert (await Device.objects().get(Device.id == device.id)).online
    assert await Notification.count() == 0


async def test_the_will_of_the_current_session_still_marks_the_device_offline(world, settings, fleet):
    """A device signs its online state and its will with the same ts: the session's start."""
    device, _, _ = await fleet.device(DeviceKind.INTERCOM)
    started = datetime.now(UTC)
    async with running(new_bridge(world, settings)):
        await fleet.publish(
            DeviceKind.INTERCOM, [("s-on", "state", {"online": True})], channel=Channel.STATE, ts=started
        )
        await eventually(lambda: Device.exists().where((Device.id == device.id) & (Device.online == True)))  # noqa: E712
        await fleet.publish(
            DeviceKind.INTERCOM, [("s-will", "state", {"online": False})], channel=Channel.STATE, ts=started
        )
        await eventually(lambda: Notification.exists().where(Notification.subject == f"device:{device.id}"))
    assert not (await Device.objects().get(Device.id == device.id)).online


async def test_a_state_from_the_future_is_refused_as_stale(world, settings, fleet):
    device, _, _ = await fleet.device(DeviceKind.INTERCOM)
    ahead = datetime.now(UTC) + timedelta(hours=1)
    async with running(new_bridge(world, settings)) as bridge:
        await fleet.publish(
            DeviceKind.INTERCOM, [("s-ahead", "state", {"online": True})], channel=Channel.STATE, ts=ahead
        )
        await handled_so_far(bridge, fleet)
    assert bridge.counts["stale"] == 1
    assert not (await Device.objects().get(Device.id == device.id)).online


async def test_a_flood_of_forged_messages_is_counted_one_by_one_and_logged_in_summaries(
    world, settings, fleet, caplog
):
    count = 3000
    bridge = new_bridge(world, settings)
    with caplog.at_level(logging.WARNING, logger="anju.bridge"):
        async with running(bridge):
            forged = [(f"flood-{i}", "access", ACCESS) for i in range(count)]
            await fleet.publish(DeviceKind.FACE_GATE, forged, secret=b"not-the-secret" * 3)
            await eventually(lambda: asyncio.sleep(0, bridge.counts["forged"] == count), 30)
    refusals = [record for record in caplog.records if record.name == "anju.bridge"]
    assert len(refusals) <= 3, f"{len(refusals)} log lines for {count} refusals"
    assert sum(record.refused.get("forged", 0) for record in refusals) == count
