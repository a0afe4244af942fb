"""Workers that survive faults: a broker restart, a database outage, a lost connection; or exit for good.

Each outage is our own: a Mosquitto the test starts (with persistence, so a restart keeps sessions),
or a TCP relay the test cuts in front of the shared broker or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import aiomqtt
import msgspec
import pytest

from backend.access.tables import AccessRecord
from backend.db import engine_for
from backend.devices.ingest import build_bridge
from backend.devices.service import community_secrets
from backend.devices.tables import BridgeCounter, DeviceEvent, DeviceKind
from device_bridge import protocol
from device_bridge.bridge import running
from device_bridge.edge import Edge
from device_bridge.protocol import Channel
from device_bridge.transport import client_options
from roles import Role
from tests.brokers import free_port, mosquitto, mosquitto_process
from tests.conftest import ROOT
from tests.faults import database_outage, relayed
from tests.integration.test_bridge import ACCESS, Fleet, eventually, unique


@pytest.fixture
def fleet(world, settings) -> Fleet:
    return Fleet(world, settings)


def passes(start: int, stop: int) -> list[tuple[str, str, dict]]:
    return [(f"ev-{i}", "access", ACCESS) for i in range(start, stop)]


async def stored(count: int, seconds: float = 20.0) -> None:
    async def enough() -> bool:
        return await DeviceEvent.count() >= count

    await eventually(enough, seconds)


async def assert_each_stored_once(count: int) -> None:
    keys = [row["key"] for row in await DeviceEvent.select(DeviceEvent.key)]
    assert len(keys) == len(set(keys)) == count
    assert await AccessRecord.count() == count


async def test_the_bridge_keeps_consuming_after_its_broker_restarts(world, settings):
    """Events published while the bridge was away, then kept by the broker across its restart, are stored once."""
    with mosquitto_process(persistent=True) as broker:
        own = msgspec.structs.replace(settings, mqtt_url=broker.url)  # external: MQTT 5, shared subscription
        fleet = Fleet(world, own)
        async with relayed(own.mqtt_url, 1883) as (relay, url):
            bridge = build_bridge(
                msgspec.structs.replace(own, mqtt_url=url),
                world.ctx.keys,
                unique("restart"),
                batch_seconds=0.01,
            )
            async with running(bridge):
                await fleet.publish(DeviceKind.FACE_GATE, passes(0, 5))
                await stored(5)
                await relay.cut()  # the bridge loses its broker
                await eventually(lambda: asyncio.sleep(0, not bridge.session.connected))
                await fleet.publish(DeviceKind.FACE_GATE, passes(5, 15))  # queued in its session
                broker.stop()
                broker.start()  # restarted, sessions kept
                await relay.restore()
                await stored(15)
                # Mosquitto 2.0 does not keep shared subscriptions across a restart, only the messages
                # already queued: what is published before the bridge subscribes again has no taker.
                await eventually(lambda: asyncio.sleep(0, bridge.session.connected))
                await fleet.publish(DeviceKind.FACE_GATE, passes(15, 20))
                await stored(20)
                await asyncio.sleep(0.5)  # anything delivered twice would be stored by now
                assert bridge.session.connected and bridge.session.reconnects >= 1
    await assert_each_stored_once(20)


async def test_a_database_outage_during_ingest_loses_nothing_and_stores_nothing_twice(
    world, settings, fleet, database_relay
):
    """The batch is held, unacknowledged, while PostgreSQL is away, and committed once it is back."""
    relay = database_relay
    engine = engine_for(relay.url)  # the bridge's database connections go through the relay
    bridge = build_bridge(settings, world.ctx.keys, unique("db"), batch_seconds=0.01, engine=engine)
    async with running(bridge):
        await fleet.publish(DeviceKind.FACE_GATE, passes(0, 5))
        await stored(5)
        await relay.cut()
        await fleet.publish(DeviceKind.FACE_GATE, passes(5, 25))
        await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] >= 25))
        await asyncio.sleep(2)  # a few attempts fail meanwhile
        assert await DeviceEvent.count() == 5
        await relay.restore()
        await stored(25)
        await asyncio.sleep(0.5)
    await assert_each_stored_once(25)
    assert bridge.stored >= 25 and bridge.last_batch_at is not None


async def test_terminated_database_connections_during_ingest_lose_nothing(world, settings, fleet):
    """pg_terminate_backend on every connection of the test's database, new ones too, mid-ingest."""
    if not settings.database_url.startswith("postgres"):
        pytest.skip("a database outage is a PostgreSQL matter")
    device, community, secret = await fleet.device(DeviceKind.FACE_GATE)
    name = protocol.topic(settings.mqtt_prefix, community, device.code, Channel.EVENT)
    payloads = [protocol.encode(secret, name, event, kind, data) for event, kind, data in passes(5, 25)]
    bridge = build_bridge(settings, world.ctx.keys, unique("terminated"), batch_seconds=0.01)
    async with running(bridge):
        await fleet.publish(DeviceKind.FACE_GATE, passes(0, 5))
        await stored(5)
        server = urlunsplit(urlsplit(settings.database_url)._replace(path="/postgres"))
        async with database_outage(server, urlsplit(settings.database_url).path.lstrip("/")):
            async with aiomqtt.Client(**client_options(settings.broker)) as publisher:
                for payload in payloads:
                    await publisher.publish(name, payload, qos=1)
            await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] >= 25))
            await asyncio.sleep(1.5)  # batches fail meanwhile
        await stored(25, 30)
        await asyncio.sleep(0.5)
    await assert_each_stored_once(25)


async def test_the_edge_reconnects_and_goes_on_translating(world, settings):
    body = {
        "community_id": world.home,
        "code": "sos_button_8",
        "kind": "emergency_button",
        "name": "一键报警 8",
    }
    created = await world.client.post(
        "/api/devices", json=body, headers=await world.headers(Role.MAINTENANCE)
    )
    assert created.status_code == 201
    base = f"{settings.mqtt_prefix}z2m"
    code, secrets = await community_secrets(world.ctx, world.home)
    press = json.dumps({"action": "emergency", "battery": 87, "linkquality": 120}).encode()
    async with (
        relayed(settings.mqtt_url or "mqtt://127.0.0.1:1883", 1883) as (relay, url),
        running(build_bridge(settings, world.ctx.keys, unique("edge"), batch_seconds=0.01)),
    ):
        source = msgspec.structs.replace(settings, mqtt_url=url).broker
        edge = Edge(settings.broker, settings.mqtt_prefix, code, secrets, "zigbee2mqtt", base, source)
        task = asyncio.create_task(edge.run())
        try:
            await eventually(lambda: asyncio.sleep(0, edge.session.connected))
            await relay.cut()
            await eventually(lambda: asyncio.sleep(0, not edge.session.connected))
            await relay.restore()
            await eventually(lambda: asyncio.sleep(0, edge.session.connected), 10)
            async with aiomqtt.Client(**client_options(settings.broker)) as gateway:
                await gateway.publish(f"{base}/sos_button_8", press, qos=1)
            await eventually(lambda: DeviceEvent.exists().where(DeviceEvent.type == "alarm"))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert edge.session.reconnects == 1 and edge.counts["forwarded"] >= 1


def test_a_bridge_without_its_broker_for_longer_than_its_bound_exits_non_zero(world, settings, tmp_path):
    """`anju bridge` loses its broker for good: it says so and exits 1, for its supervisor to restart it."""
    port = free_port()
    env = {
        **os.environ,
        "ANJU_DATABASE_URL": settings.database_url,
        "ANJU_SECRET_KEY": settings.secret_key,
        "ANJU_VAR_DIR": settings.var_dir,
        "ANJU_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "ANJU_MQTT_PREFIX": settings.mqtt_prefix,
        "ANJU_BRIDGE_GIVE_UP_SECONDS": "3",
    }
    command = [sys.executable, "-m", "backend", "bridge", "--worker", unique("bound")]
    log = tmp_path / "bridge.log"
    with log.open("w") as stderr, mosquitto(port):
        worker = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            _wait_for(worker, log, "connected to")
        except BaseException:
            worker.kill()
            raise
    try:
        status = worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        pytest.fail("the bridge stayed up without a broker")
    assert status == 1
    assert "no broker for" in log.read_text()


def _wait_for(worker: subprocess.Popen, log, text: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        if time.monotonic() > deadline or worker.poll() is not None:
            raise AssertionError(f"the bridge did not say {text!r}: {log.read_text()}")
        time.sleep(0.1)


async def test_liveness_is_readable_per_worker(world, settings, fleet):
    """Counters and gauges per worker in bridge_counter; updated_at is the worker's heartbeat."""
    bridge = build_bridge(settings, world.ctx.keys, unique("alive"), batch_seconds=0.01, save_every=0.1)
    async with running(bridge):
        await fleet.publish(DeviceKind.FACE_GATE, passes(0, 3))
        await stored(3)

        async def saved() -> bool:
            rows = await BridgeCounter.select().where(BridgeCounter.worker == bridge.worker)
            return {r["reason"]: r["count"] for r in rows}.get("stored") == 3

        await eventually(saved)
    rows = await BridgeCounter.select().where(BridgeCounter.worker == bridge.worker)
    gauges = {r["reason"]: r["count"] for r in rows}
    assert gauges["accepted"] == 3 and gauges["reconnects"] == 0 and "batch_lag_ms" in gauges
