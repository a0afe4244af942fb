"""Readiness, database outages and log hygiene, against the real PostgreSQL, Redis and brokers."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
import msgspec
import pytest

from backend.app import create_app
from backend.db import bind, is_postgres, transaction
from backend.devices.commands import CommandTarget, DeviceCommands
from backend.devices.service import mqtt_policy
from backend.devices.tables import Device
from backend.doorplates.tables import Doorplate
from backend.health import DATABASE_DOWN
from device_bridge.broker import embedded_broker
from roles import Role
from tests.brokers import free_port, mosquitto
from tests.faults import relayed
from tests.integration.conftest import lifespan
from tests.integration.test_bridge import eventually
from tests.integration.test_doors import simulated, unit_door

HTML = "text/html; charset=utf-8"


@contextlib.asynccontextmanager
async def serving(settings, caplog=None):
    """An app of its own with ``settings``; the tables are bound back to the test's app afterwards."""
    engine = Doorplate._meta.db
    app = create_app(settings)
    if caplog:  # the app's logging configuration replaced the root logger's handlers
        logging.getLogger().addHandler(caplog.handler)
    try:
        async with lifespan(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
            async with httpx.AsyncClient(transport=transport, base_url="https://anju.local") as client:
                yield client
    finally:
        bind(engine)


def logged(caplog, text: str, logger: str = "anju") -> int:
    return sum(text in r.getMessage() for r in caplog.records if r.name.startswith(logger))


async def test_ready_checks_every_dependency(world, settings):
    async def ready() -> bool:
        return (await world.client.get("/api/ready")).status_code == 200

    await eventually(ready)
    body = (await world.client.get("/api/ready")).json()
    expected = {"database": "ok", "broker": "ok"} | ({"redis": "ok"} if settings.redis_url else {})
    assert body == {"status": "ready", "checks": expected}
    assert (await world.client.get("/api/health")).json() == {"status": "ok"}
    operation = (await world.client.get("/schema/openapi.json")).json()["paths"]["/api/ready"]["get"]
    assert operation["tags"] == ["ops"] and "503" in operation["responses"]


async def test_ready_names_what_is_down_and_doorplates_answer_a_page(settings):
    """Nothing listens where Redis and the broker should be: 503 naming both; a scanned plate gets HTML."""
    dead = msgspec.structs.replace(
        settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", mqtt_url=f"mqtt://127.0.0.1:{free_port()}"
    )
    async with serving(dead) as client:
        ready = await client.get("/api/ready")
        plate = await client.get("/d/AAAAAAAAAAAAAAAA", headers={"Accept": "text/html"})
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "down", "redis": "down"},
        "down": ["broker", "redis"],
    }
    assert plate.status_code == 503 and plate.headers["content-type"] == HTML
    assert "暂时无法服务" in plate.text and "<script" not in plate.text


async def test_a_database_outage_is_a_503_logged_once_then_recovered(world, settings, database_relay, caplog):
    relay = database_relay
    token = await world.plate(world.home)
    async with serving(msgspec.structs.replace(settings, database_url=relay.url), caplog) as client:
        assert (await client.get(f"/api/scan/{token}")).status_code == 200
        await relay.cut()
        scans = [await client.get(f"/api/scan/{token}") for _ in range(3)]
        page = await client.get(f"/d/{token}", headers={"Accept": "text/html"})
        ready = await client.get("/api/ready")
        assert [s.status_code for s in scans] == [503] * 3
        assert {s.json()["extra"]["code"] for s in scans} == {"database_unavailable"}
        assert page.status_code == 503 and page.headers["content-type"] == HTML
        assert ready.status_code == 503 and "database" in ready.json()["down"]
        assert logged(caplog, "database unreachable") == 1

        await relay.restore()

        async def recovered() -> bool:
            return logged(caplog, "database reachable again") == 1

        await eventually(recovered, 60)
        assert (await client.get(f"/api/scan/{token}")).status_code == 200
        assert (await client.get("/api/ready")).json()["checks"]["database"] == "ok"
    assert logged(caplog, "database unreachable") == 1


async def test_a_redis_outage_under_load_is_a_503_then_sessions_carry_on(world, settings, caplog):
    """Signed-in scans in parallel while Redis goes away and comes back: 503s, never 500s, and the
    same session works again afterwards (nothing it depended on was lost with the connection)."""
    if not settings.redis_url:
        pytest.skip("Redis is configured on the PostgreSQL run")
    token, police = await world.plate(world.home), await world.headers(Role.POLICE)

    async def scans(client) -> list[int]:
        answers = await asyncio.gather(*(client.get(f"/api/scan/{token}", headers=police) for _ in range(8)))
        return [answer.status_code for answer in answers]

    async with relayed(settings.redis_url, 6379) as (relay, url):
        async with serving(msgspec.structs.replace(settings, redis_url=url), caplog) as client:
            assert await scans(client) == [200] * 8
            await relay.cut()
            during = await scans(client)
            ready = await client.get("/api/ready")
            await relay.restore()

            async def recovered() -> bool:
                return await scans(client) == [200] * 8

            await eventually(recovered)
    assert set(during) == {503}
    assert ready.status_code == 503 and ready.json()["down"] == ["redis"]
    assert logged(caplog, "Redis unreachable") == 1


# The door-command client and a broker only: the database plays no part, so one engine is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_door_commands_back_off_and_log_only_changes_of_state(settings, caplog):
    """`anju serve` without a broker: one WARNING when it is lost, one INFO when it is back."""
    caplog.set_level(logging.INFO, logger="anju.commands")
    attempts = 0

    async def refuse(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.transport.abort()

    port = free_port()
    doors = DeviceCommands(msgspec.structs.replace(settings, mqtt_url=f"mqtt://127.0.0.1:{port}"))
    not_a_broker = await asyncio.start_server(refuse, "127.0.0.1", port)
    await doors.start()
    try:
        await eventually(lambda: asyncio.sleep(0, attempts >= 3), 30)
        not_a_broker.close()
        await not_a_broker.wait_closed()
        assert logged(caplog, "broker unreachable") == 1
        with mosquitto(port):
            await eventually(lambda: asyncio.sleep(0, doors.connected), 60)
            assert logged(caplog, "reachable again") == 1
        await eventually(lambda: asyncio.sleep(0, not doors.connected), 30)
    finally:
        await doors.stop()
    assert logged(caplog, "broker unreachable") == 2


async def test_a_fresh_door_client_ignores_the_retained_states_of_a_running_fleet(world, settings, caplog):
    """On the embedded broker (the demo's), no device's retained state reaches the ack subscription."""
    caplog.set_level(logging.INFO, logger="anju.commands")
    embedded = msgspec.structs.replace(settings, mqtt_url="", mqtt_embedded_port=free_port())
    broker = embedded.broker
    policy = await mqtt_policy(world.ctx, broker.username, broker.password)
    door = await unit_door(world)
    device = await Device.objects(Device.community).get(Device.id == door["device"])
    target = CommandTarget(
        community=device.community.code,
        device=device.code,
        secret=world.ctx.keys.unseal(device.secret_sealed).encode(),
    )
    async with embedded_broker(broker.port, policy), simulated(world, embedded):
        doors = DeviceCommands(embedded)
        await doors.start()
        try:
            await eventually(lambda: asyncio.sleep(0, doors.connected))
            # The ack comes after anything the broker sent on connecting: every message has been seen.
            assert (await doors.open(target, "sync-after-retained")).ok
        finally:
            await doors.stop()
    assert logged(caplog, "refused", "anju.commands") == 0


async def test_a_connection_terminated_inside_a_transaction_goes_back_to_the_pool(world, settings):
    """The server drops a connection mid-transaction: a 503 kind of error, and neither the pool
    nor the task's next query is stuck with the dead connection (Piccolo alone leaked it)."""
    engine = Doorplate._meta.db
    if not is_postgres(engine):
        pytest.skip("connections are a PostgreSQL matter")
    for _ in range(engine.pool.get_max_size() + 1):  # a leak per attempt would exhaust the pool
        with pytest.raises(DATABASE_DOWN):
            async with asyncio.timeout(5), transaction(engine):
                await engine.run_ddl("SELECT pg_terminate_backend(pg_backend_pid())")
    async with asyncio.timeout(5):
        assert [dict(row) for row in await engine.run_ddl("SELECT 1 AS one")] == [{"one": 1}]
