"""Notices on screens over real MQTT: publishing sends a signed ``display`` to the community's screens
(from the app, and from a bridge worker for a scheduled notice), withdrawing a ``clear``; the simulated
screens verify, acknowledge and show them, and no screen of another community hears of them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt

from backend.devices.ingest import build_bridge
from backend.devices.service import fleet
from device_bridge import protocol
from device_bridge.bridge import running
from device_bridge.protocol import Channel
from device_bridge.simulator import DeviceSpec, Simulator
from device_bridge.transport import client_options
from roles import Role
from tests.integration.test_bridge import eventually, unique
from tests.integration.test_notices import WATER, act, draft

Sent = list[aiomqtt.Message]


async def screens(world) -> dict[str, DeviceSpec]:
    """The screen of each community (the seed gives each one), by "home" and "other"."""
    home_code = (await fleet(world.ctx, world.home))[0].community
    found = {spec.community: spec for spec in await fleet(world.ctx) if spec.kind == "screen"}
    (other,) = [spec for code, spec in found.items() if code != home_code]
    return {"home": found[home_code], "other": other}


@contextlib.asynccontextmanager
async def showing(world, settings) -> AsyncIterator[tuple[Simulator, dict[str, DeviceSpec], Sent]]:
    """Both communities' screens running, and every command and ack the broker carries."""
    specs = await screens(world)
    simulator = Simulator(
        settings.broker,
        list(specs.values()),
        settings.mqtt_prefix,
        event_interval=60,
        state_dir=Path(settings.var_dir) / "devices",
    )
    sent: Sent = []
    everything = protocol.subscription(settings.mqtt_prefix, Channel.CMD, shared=False)
    async with aiomqtt.Client(
        **client_options(settings.broker), identifier=f"watch-cmd-{secrets.token_hex(3)}"
    ) as watcher:
        await watcher.subscribe(everything, qos=0)
        await watcher.subscribe(protocol.subscription(settings.mqtt_prefix, Channel.ACK, shared=False), qos=0)

        async def collect() -> None:
            async for message in watcher.messages:
                sent.append(message)

        collecting = asyncio.create_task(collect())
        await simulator.start()
        try:
            await eventually(lambda: asyncio.sleep(0, world.ctx.commands.connected), 10)
            yield simulator, specs, sent
        finally:
            await simulator.stop()
            await simulator.forget()
            collecting.cancel()


def shown(simulator: Simulator, spec: DeviceSpec) -> dict:
    return simulator.devices[spec.code].showing


def verified(
    sent: Sent, spec: DeviceSpec, prefix: str, channel: Channel = Channel.CMD
) -> list[protocol.Envelope]:
    """The commands sent to ``spec`` (or its acks), each checked as its receiver checks it: the
    device's secret, freshness."""
    name = protocol.topic(prefix, spec.community, spec.code, channel)
    envelopes = [
        protocol.verify(spec.secret, name, protocol.decode(m.payload)) for m in sent if str(m.topic) == name
    ]
    return [protocol.check_fresh(envelope, 30, 30) for envelope in envelopes]


async def test_publishing_shows_a_notice_on_its_screens_and_withdrawing_clears_it(world, settings):
    async with showing(world, settings) as (simulator, specs, sent):
        notice = await draft(world, {**WATER, "urgent": True, "body": "停水" * 100})
        published = await act(world, notice["id"], "publish", Role.PROPERTY)
        assert published.json()["status"] == "published"
        home = specs["home"]
        await eventually(lambda: asyncio.sleep(0, notice["id"] in shown(simulator, home)))

        (display,) = verified(sent, home, settings.mqtt_prefix)
        assert display.data["action"] == "display" and display.data["notice"] == notice["id"]
        assert display.data["title"] == WATER["title"] and display.data["urgent"] is True
        assert display.data["body"] == ("停水" * 100)[:120]  # an excerpt
        until = dt.datetime.fromisoformat(display.data["until"]) - dt.datetime.now(dt.UTC)
        assert dt.timedelta(days=6) < until <= dt.timedelta(days=7)
        assert shown(simulator, home)[notice["id"]].title == WATER["title"]

        withdrawn = await act(world, notice["id"], "withdraw", Role.PROPERTY)
        assert withdrawn.json()["status"] == "withdrawn"
        await eventually(lambda: asyncio.sleep(0, shown(simulator, home) == {}))
        assert [e.data["action"] for e in verified(sent, home, settings.mqtt_prefix)] == ["display", "clear"]
        await eventually(
            lambda: asyncio.sleep(0, len(verified(sent, home, settings.mqtt_prefix, Channel.ACK)) == 2)
        )
        acks = [e.data for e in verified(sent, home, settings.mqtt_prefix, Channel.ACK)]
        assert acks == [
            {"command": f"notice-{notice['id']}-display", "ok": True},
            {"command": f"notice-{notice['id']}-clear", "ok": True},
        ]

        assert verified(sent, specs["other"], settings.mqtt_prefix) == []
        assert shown(simulator, specs["other"]) == {}


async def test_a_scheduled_notice_reaches_the_screens_from_the_bridge(world, settings):
    bridge = build_bridge(settings, world.ctx.keys, unique("screens"), watch_seconds=0.2)
    async with showing(world, settings) as (simulator, specs, sent), running(bridge):
        notice = await draft(world, WATER)
        soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
        scheduled = await act(world, notice["id"], "publish", Role.PROPERTY, {"at": soon})
        assert scheduled.json()["status"] == "scheduled"
        assert verified(sent, specs["home"], settings.mqtt_prefix) == []  # not yet

        await eventually(lambda: asyncio.sleep(0, notice["id"] in shown(simulator, specs["home"])), 10)
        (display,) = verified(sent, specs["home"], settings.mqtt_prefix)
        assert display.data["action"] == "display" and display.data["notice"] == notice["id"]
        assert verified(sent, specs["other"], settings.mqtt_prefix) == []
