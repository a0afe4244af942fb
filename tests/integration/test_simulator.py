"""The device simulator against a real broker (the machine's Mosquitto): signed states, events, acks and wills.

Each test gets its own topic prefix and community code (client ids contain the latter), so runs never collide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import msgspec
import pytest

from device_bridge import protocol
from device_bridge.protocol import AccessData, AckData, AlarmData, Channel, CommandData, Envelope
from device_bridge.simulator import DeviceSpec, Simulator, publish_events
from device_bridge.transport import client_options, parse_url

BROKER = parse_url("mqtt://127.0.0.1:1883")  # replaced by the session's broker below


@pytest.fixture(autouse=True)
def _broker(mqtt_url: str) -> None:
    """Point this module at the session's broker (the machine's Mosquitto, or a private one)."""
    global BROKER
    BROKER = parse_url(mqtt_url)


TIMEOUT = 10

Simulate = Callable[..., Awaitable[Simulator]]


@pytest.fixture
def prefix() -> str:
    return f"anjutest{secrets.token_hex(4)}"


@pytest.fixture
def community() -> str:
    return f"c{secrets.token_hex(3)}"


def device(community: str, code: str, kind: str) -> DeviceSpec:
    return DeviceSpec(community=community, code=code, kind=kind, secret=secrets.token_bytes(32), heartbeat=1)


@contextlib.asynccontextmanager
async def subscribed(prefix: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        **client_options(BROKER), identifier=f"watch-{prefix}-{secrets.token_hex(3)}"
    ) as client:
        await client.subscribe(f"{prefix}/#", qos=1)
        yield client


@pytest.fixture
async def watcher(prefix: str) -> AsyncIterator[aiomqtt.Client]:
    async with subscribed(prefix) as client:
        yield client


@pytest.fixture
async def simulate(prefix: str, tmp_path: Path) -> AsyncIterator[Simulate]:
    """Starts simulators; afterwards stops them and clears the retained states they left on the broker.

    Every simulator of a test keeps its devices' state in the same directory, as one restarted would.
    """
    started: list[Simulator] = []

    async def simulate(*devices: DeviceSpec, **options: Any) -> Simulator:
        simulator = Simulator(
            BROKER, list(devices), prefix, event_interval=0.2, seed=7, state_dir=tmp_path, **options
        )
        started.append(simulator)
        async with asyncio.timeout(TIMEOUT):
            await simulator.start()
        return simulator

    yield simulate
    for simulator in started:
        await simulator.stop()
        await simulator.forget()


async def expect(
    client: aiomqtt.Client, spec: DeviceSpec, channel: Channel, type: str, prefix: str
) -> tuple[aiomqtt.Message, Envelope]:
    """The next message of ``type`` on ``spec``'s ``channel`` topic, its signature checked."""
    wanted = protocol.topic(prefix, spec.community, spec.code, channel)
    async for message in client.messages:
        if str(message.topic) != wanted or not message.payload:
            continue
        envelope = protocol.decode(message.payload)
        if envelope.type == type:
            return message, protocol.verify(spec.secret, wanted, envelope)
    raise AssertionError("the subscription ended")


def command(
    spec: DeviceSpec,
    prefix: str,
    command_id: str,
    action: str = "open",
    secret: bytes = b"",
    ts: datetime | None = None,
) -> bytes:
    """A command as the platform signs it (backend/devices/commands.py)."""
    name = protocol.topic(prefix, spec.community, spec.code, Channel.CMD)
    data = msgspec.structs.asdict(CommandData(action=action, door="1"))
    return protocol.encode(secret or spec.secret, name, command_id, "cmd", data, ts)


async def send(client: aiomqtt.Client, spec: DeviceSpec, prefix: str, payload: bytes) -> None:
    await client.publish(protocol.topic(prefix, spec.community, spec.code, Channel.CMD), payload, qos=1)


async def test_a_device_announces_itself_with_a_signed_retained_state(
    simulate: Simulate, prefix: str, community: str
):
    door = device(community, "door-1", "door_controller")
    await simulate(door)
    async with subscribed(prefix) as late, asyncio.timeout(TIMEOUT):  # only a retained state reaches it
        message, envelope = await expect(late, door, Channel.STATE, "state", prefix)
    assert message.retain
    assert envelope.data == {"online": True}
    assert envelope.at.utcoffset() is not None


async def test_heartbeats_and_access_events_are_signed_with_the_device_secret(
    simulate: Simulate, watcher: aiomqtt.Client, prefix: str, community: str
):
    door = device(community, "door-1", "door_controller")
    await simulate(door)
    async with asyncio.timeout(TIMEOUT):
        _, heartbeat = await expect(watcher, door, Channel.EVENT, "heartbeat", prefix)
        accesses = [(await expect(watcher, door, Channel.EVENT, "access", prefix))[1] for _ in range(5)]
    event_topic = protocol.topic(prefix, door.community, door.code, Channel.EVENT)
    with pytest.raises(protocol.ForgedMessage):
        protocol.verify(b"another device's secret", event_topic, heartbeat)
    assert len({heartbeat.id, *(event.id for event in accesses)}) == 6
    data = [protocol.data_as(event, AccessData) for event in accesses]
    assert {access.method for access in data} <= {"card", "id_card", "pin"}  # no face on a door controller
    assert len({access.method for access in data}) > 1  # methods rotate
    card = next(access for access in data if access.method == "card")
    assert card.credential.isdigit() and len(card.credential) == 10


async def test_battery_devices_report_battery_and_raise_then_clear_alarms(
    simulate: Simulate, watcher: aiomqtt.Client, prefix: str, community: str
):
    smoke = device(community, "smoke-1", "sensor")
    await simulate(smoke, alarm_chance=1.0)
    async with asyncio.timeout(TIMEOUT):
        _, heartbeat = await expect(watcher, smoke, Channel.EVENT, "heartbeat", prefix)
        raised = protocol.data_as(
            (await expect(watcher, smoke, Channel.EVENT, "alarm", prefix))[1], AlarmData
        )
        cleared = protocol.data_as(
            (await expect(watcher, smoke, Channel.EVENT, "alarm", prefix))[1], AlarmData
        )
    assert 0 < heartbeat.data["battery"] <= 100
    assert (raised.kind, raised.active) == ("smoke", True)
    assert (cleared.kind, cleared.active) == ("smoke", False)


async def test_an_open_command_is_acknowledged_and_a_repeat_executes_once(
    simulate: Simulate, watcher: aiomqtt.Client, prefix: str, community: str
):
    door = device(community, "door-1", "door_controller")
    simulator = await simulate(door)
    command_id = secrets.token_hex(8)
    async with asyncio.timeout(TIMEOUT):
        for _ in range(2):
            await send(watcher, door, prefix, command(door, prefix, command_id))
            ack = protocol.data_as((await expect(watcher, door, Channel.ACK, "ack", prefix))[1], AckData)
            assert (ack.command, ack.ok) == (command_id, True)
    assert simulator.devices["door-1"].opened == [command_id]


async def test_an_unknown_action_is_refused_in_the_ack(
    simulate: Simulate, watcher: aiomqtt.Client, prefix: str, community: str
):
    gate = device(community, "gate-1", "barrier")
    simulator = await simulate(gate)
    async with asyncio.timeout(TIMEOUT):
        await send(watcher, gate, prefix, command(gate, prefix, "cmd-reboot", action="reboot"))
        ack = protocol.data_as((await expect(watcher, gate, Channel.ACK, "ack", prefix))[1], AckData)
    assert (ack.command, ack.ok) == ("cmd-reboot", False)
    assert simulator.devices["gate-1"].opened == []


async def test_forged_and_malformed_commands_get_no_ack(
    simulate: Simulate, watcher: aiomqtt.Client, prefix: str, community: str
):
    door = device(community, "door-1", "door_controller")
    simulator = await simulate(door)
    async with asyncio.timeout(TIMEOUT):
        await send(watcher, door, prefix, command(door, prefix, "forged", secret=b"not the device secret"))
        await send(watcher, door, prefix, b'{"action": "open"}')
        await send(watcher, door, prefix, command(door, prefix, "genuine"))
        # One publisher, one topic: the device handles them in order, so the first ack tells.
        ack = protocol.data_as((await expect(watcher, door, Channel.ACK, "ack", prefix))[1], AckData)
    assert ack.command == "genuine"
    assert simulator.devices["door-1"].opened == ["genuine"]


async def test_a_killed_device_leaves_its_signed_will_and_the_others_carry_on(
    simulate: Simulate, watcher: aiomqtt.Client, prefix: str, community: str
):
    door, button = (
        device(community, "door-1", "door_controller"),
        device(community, "sos-1", "emergency_button"),
    )
    simulator = await simulate(door, button)
    async with asyncio.timeout(TIMEOUT):
        _, online = await expect(watcher, door, Channel.STATE, "state", prefix)
        assert online.data["online"] is True
        await simulator.kill("door-1")
        _, will = await expect(watcher, door, Channel.STATE, "state", prefix)
        await expect(watcher, button, Channel.EVENT, "heartbeat", prefix)
    assert will.data == {"online": False}
    assert will.at <= online.at  # signed at connect time: the broker's will, not a goodbye from the device
    async with subscribed(prefix) as late, asyncio.timeout(TIMEOUT):
        message, retained = await expect(late, door, Channel.STATE, "state", prefix)
    assert message.retain and retained.data == {"online": False}


async def test_a_clean_stop_leaves_an_offline_state(simulate: Simulate, prefix: str, community: str):
    door = device(community, "door-1", "door_controller")
    simulator = await simulate(door)
    await simulator.stop()
    async with subscribed(prefix) as late, asyncio.timeout(TIMEOUT):
        _, retained = await expect(late, door, Channel.STATE, "state", prefix)
    assert retained.data == {"online": False}


async def test_publish_events_delivers_every_event_once(watcher: aiomqtt.Client, prefix: str, community: str):
    gate = device(community, "face-1", "face_gate")
    async with asyncio.timeout(TIMEOUT):
        ids = await publish_events(BROKER, gate, 300, prefix)
        received = [(await expect(watcher, gate, Channel.EVENT, "access", prefix))[1] for _ in ids]
    assert len(set(ids)) == 300
    assert [event.id for event in received] == ids  # QoS 1 from one connection keeps the order
    assert all(protocol.data_as(event, AccessData).method in ("card", "pin", "face") for event in received)


async def test_a_command_replayed_after_a_restart_is_not_executed_again(
    simulate: Simulate, watcher: aiomqtt.Client, prefix: str, community: str
):
    door = device(community, "door-1", "door_controller")
    before = await simulate(door)
    captured = command(door, prefix, "open-1")  # what an eavesdropper on the broker saw
    async with asyncio.timeout(TIMEOUT):
        await send(watcher, door, prefix, captured)
        await expect(watcher, door, Channel.ACK, "ack", prefix)
    assert before.devices["door-1"].opened == ["open-1"]
    await before.stop()
    after = await simulate(door)  # the same device restarted, with the state it keeps on disk
    async with asyncio.timeout(TIMEOUT):
        await send(watcher, door, prefix, captured)
        ack = protocol.data_as((await expect(watcher, door, Channel.ACK, "ack", prefix))[1], AckData)
    assert ack.command == "open-1"  # answered as the first time, for a platform retrying a lost ack
    assert after.devices["door-1"].opened == [], "the replayed command opened the door again"


async def test_stale_and_future_commands_are_refused_on_first_sight(
    simulate: Simulate, watcher: aiomqtt.Client, prefix: str, community: str
):
    door = device(community, "door-1", "door_controller")
    simulator = await simulate(door)
    a_minute = timedelta(seconds=60)  # the default window is 30 s
    async with asyncio.timeout(TIMEOUT):
        for command_id, ts in (
            ("late", datetime.now(UTC) - a_minute),
            ("early", datetime.now(UTC) + a_minute),
        ):
            await send(watcher, door, prefix, command(door, prefix, command_id, ts=ts))
            ack = protocol.data_as((await expect(watcher, door, Channel.ACK, "ack", prefix))[1], AckData)
            assert (ack.command, ack.ok, ack.reason) == (command_id, False, "stale")
    assert simulator.devices["door-1"].opened == []


async def test_a_flood_of_forged_commands_is_logged_in_summaries(
    simulate: Simulate, watcher: aiomqtt.Client, prefix: str, community: str, caplog: pytest.LogCaptureFixture
):
    door = device(community, "door-1", "door_controller")
    simulator = await simulate(door)
    count = 300
    with caplog.at_level(logging.WARNING, logger="anju.bridge.simulator"):
        async with asyncio.timeout(TIMEOUT):
            for i in range(count):
                await send(watcher, door, prefix, command(door, prefix, f"f-{i}", secret=b"forger"))
            await send(watcher, door, prefix, command(door, prefix, "genuine"))
            await expect(watcher, door, Channel.ACK, "ack", prefix)  # so every forgery was handled
        await simulator.stop()
    lines = [record for record in caplog.records if record.name == "anju.bridge.simulator"]
    assert len(lines) <= 3, f"{len(lines)} log lines for {count} forged commands"
    assert sum(record.refused.get("forged", 0) for record in lines) == count


def test_an_unknown_device_kind_is_refused(community: str):
    with pytest.raises(ValueError, match="kind"):
        DeviceSpec(community=community, code="lamp-1", kind="street_lamp", secret=b"s", heartbeat=60)
