"""The video intercom end to end: a simulated panel (aiortc) rings a flat over Mosquitto, the household's
phones ring (web push, the household's stream), a phone (aiortc here, Chromium in tests/browser)
answers through Anju's signalling and gets the panel's video peer to peer, talks, and opens the
door through the simulated panel; unanswered calls move on to the next member, then are missed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from backend.access.tables import AccessRecord
from backend.accounts.tables import Account
from backend.devices.ingest import build_bridge
from backend.devices.tables import Device, DeviceKind
from backend.intercom import ringing
from backend.intercom.tables import IntercomCall
from backend.registry.enums import ResidencyStatus
from backend.registry.tables import House, Residency
from device_bridge import store
from device_bridge.bridge import running
from device_bridge.protocol import EventType
from roles import Role
from tests.integration.test_bridge import Fleet, eventually, unique
from tests.integration.test_doors import opened, simulated
from tests.pushservice import PushService

MEMBER_PHONE = "13900000002"
STRANGER_PHONE = "13900000003"
OTHER_COMMUNITY_PHONE = "13900000004"


@pytest.fixture
def settings(settings):
    # The local push service listens on 127.0.0.1 over http: allowed for these tests only.
    return msgspec.structs.replace(settings, push_allow_hosts="127.0.0.1")


@pytest.fixture
async def push_service():
    async with PushService().running() as service:
        yield service


class Phone:
    """A resident's phone as WebRTC sees it: answers the panel's offer with a microphone, counts video."""

    def __init__(self) -> None:
        self.connection = RTCPeerConnection()
        self.frames = 0
        self.heard = 0  # audio frames from the panel (the visitor's voice)
        self._tasks: set[asyncio.Task] = set()
        self.connection.on("track", self._track)

    def _track(self, track) -> None:
        async def pull() -> None:
            with contextlib.suppress(Exception):
                while True:
                    await track.recv()
                    if track.kind == "video":
                        self.frames += 1
                    else:
                        self.heard += 1

        task = asyncio.create_task(pull())
        self._tasks.add(task)

    async def answer(self, offer: str) -> str:
        await self.connection.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        self.connection.addTrack(AudioStreamTrack())
        await self.connection.setLocalDescription(await self.connection.createAnswer())
        return self.connection.localDescription.sdp

    async def close(self) -> None:
        await self.connection.close()
        for task in self._tasks:
            task.cancel()


async def account_of(phone: str) -> int:
    return (await Account.select(Account.id).where(Account.phone == phone).first())["id"]


async def resident(world) -> int:
    return await account_of(world.phone(Role.RESIDENT))


async def headers_of(world, phone: str) -> dict[str, str]:
    tokens = await world.sign_in(phone)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def member_of(world, house: int, phone: str) -> dict[str, str]:
    """A verified member of ``house`` with an account of their own (a residency without one): headers."""
    residency = (
        await Residency.objects()
        .where((Residency.house == house) & Residency.account.is_null())
        .order_by(Residency.id)
        .first()
    )
    account = Account(phone=phone, name=f"住户 {phone[-4:]}", role=Role.RESIDENT)
    await account.save()
    await Residency.update({Residency.status: ResidencyStatus.VERIFIED, Residency.account: account.id}).where(
        Residency.id == residency.id
    )
    return await headers_of(world, phone)


async def panel_at(house_id: int) -> tuple[Device, str]:
    """The intercom panel of the flat's unit, and the flat's room number."""
    house = await House.objects().get(House.id == house_id)
    panel = (
        await Device.objects()
        .where((Device.unit == house.unit) & (Device.kind == DeviceKind.INTERCOM))
        .first()
    )
    return panel, house.room_no


async def subscribe(world, headers: dict, push_service: PushService):
    browser = push_service.browser()
    answer = await world.client.post(
        "/api/push/subscriptions", json=browser.subscription(push_service.url), headers=headers
    )
    assert answer.status_code == 204, answer.text
    return browser


async def the_call(world, headers: dict) -> dict:
    """The household's latest call, once there is one."""
    found: list[dict] = []

    async def listed() -> bool:
        calls = (await world.client.get(f"/api/houses/{world.home_house}/calls", headers=headers)).json()
        found[:] = calls
        return bool(calls)

    await eventually(listed, 15)
    return found[0]


async def get_call(world, call_id: int, headers: dict) -> dict:
    response = await world.client.get(f"/api/calls/{call_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def rings(push_service: PushService, browser) -> list[dict]:
    return [m for m in push_service.messages(browser) if m["tag"].startswith("call:")]


def transaction():
    return store.writer(IntercomCall._meta.db)


async def test_a_panel_call_rings_shows_video_talks_and_opens_the_door(world, settings, push_service):
    headers = await world.headers(Role.RESIDENT)
    me = await resident(world)
    browser = await subscribe(world, headers, push_service)
    panel, room = await panel_at(world.home_house)
    async with simulated(world, settings) as simulator:
        panel_call = await simulator.call(panel.code, room)
        call = await the_call(world, headers)
        assert (call["state"], call["ringing"], call["room"]) == ("ringing", me, room)
        # The ring is a web push to the member's phone, opening the call.
        await eventually(lambda: asyncio.sleep(0, rings(push_service, browser)), 10)
        [ring] = rings(push_service, browser)
        assert ring["tag"] == f"call:{call['id']}" and ring["url"] == f"/intercom?call={call['id']}"
        offer = (await get_call(world, call["id"], headers))["offer"]
        assert offer.startswith("v=0") and "m=video" in offer

        phone = Phone()
        try:
            answer = await phone.answer(offer)
            response = await world.client.post(
                f"/api/calls/{call['id']}/answer", json={"sdp": answer}, headers=headers
            )
            assert response.status_code == 200, response.text
            assert (response.json()["state"], response.json()["answered_by"]) == ("answered", me)
            # Peer to peer: the panel's test video reaches the phone, the phone's microphone the panel.
            await eventually(lambda: asyncio.sleep(0, phone.frames >= 15), 20)
            held = simulator.devices[panel.code].panel.calls[panel_call]
            await eventually(lambda: asyncio.sleep(0, held.heard >= 15 and phone.heard >= 15), 20)

            door = await world.client.post(f"/api/calls/{call['id']}/open", headers=headers)
            assert door.status_code == 200, door.text
            assert door.json()["opened"] is True
            assert door.json()["command_id"] in opened(simulator)  # the panel's door executed it
            record = await AccessRecord.objects().where(AccessRecord.method == "visitor_call").first()
            assert record.granted and record.credential == f"call:{call['id']}"
            assert (record.house, record.account, record.device, record.sk_fsdm) == (
                world.home_house,
                me,
                panel.id,
                "07",
            )
            assert (await get_call(world, call["id"], headers))["state"] == "opened"

            hung = await world.client.post(f"/api/calls/{call['id']}/hangup", headers=headers)
            assert hung.status_code == 200 and hung.json()["state"] == "ended"
            device = simulator.devices[panel.code]
            await eventually(lambda: asyncio.sleep(0, panel_call not in device.panel.calls), 10)
        finally:
            await phone.close()


async def test_an_unanswered_call_rings_the_next_member_then_is_logged_missed(world, settings, push_service):
    first = await world.headers(Role.RESIDENT)
    second = await member_of(world, world.home_house, MEMBER_PHONE)
    first_phone = await subscribe(world, first, push_service)
    second_phone = await subscribe(world, second, push_service)
    ring_seconds = settings.intercom_ring_seconds
    panel, room = await panel_at(world.home_house)
    async with simulated(world, settings) as simulator:
        panel_call = await simulator.call(panel.code, room)
        call = await the_call(world, first)
        assert call["ringing"] == await resident(world)
        await eventually(lambda: asyncio.sleep(0, rings(push_service, first_phone)), 10)
        assert not rings(push_service, second_phone)  # one member at a time

        later = datetime.now(UTC) + timedelta(seconds=ring_seconds + 1)
        sender = world.ctx.commands.sender
        assert await ringing.move_rings(transaction, sender, world.ctx.keys, ring_seconds, now=later) == []
        assert (await get_call(world, call["id"], second))["ringing"] == await account_of(MEMBER_PHONE)
        await eventually(lambda: asyncio.sleep(0, rings(push_service, second_phone)), 10)
        assert len(rings(push_service, first_phone)) == 1

        later += timedelta(seconds=ring_seconds + 1)
        missed = await ringing.move_rings(transaction, sender, world.ctx.keys, ring_seconds, now=later)
        assert missed == [call["id"]]
        for headers in (first, second):
            [logged] = (
                await world.client.get(f"/api/houses/{world.home_house}/calls", headers=headers)
            ).json()
            assert (logged["id"], logged["state"], logged["answered_by"]) == (call["id"], "missed", None)
            assert logged["ended_at"] is not None
        # The panel is told, and a missed call can no longer be answered.
        device = simulator.devices[panel.code]
        await eventually(lambda: asyncio.sleep(0, panel_call not in device.panel.calls), 10)
        late = await world.client.post(
            f"/api/calls/{call['id']}/answer", json={"sdp": "v=0\r\n"}, headers=second
        )
        assert late.status_code == 409 and late.json()["extra"]["code"] == "call_over"


async def test_a_second_members_answer_after_the_first_is_refused(world, settings):
    first = await world.headers(Role.RESIDENT)
    second = await member_of(world, world.home_house, MEMBER_PHONE)
    panel, room = await panel_at(world.home_house)
    async with simulated(world, settings) as simulator:
        await simulator.call(panel.code, room)
        call = await the_call(world, first)
        offer = (await get_call(world, call["id"], second))["offer"]
        phones = [Phone(), Phone()]
        try:
            taken = await world.client.post(
                f"/api/calls/{call['id']}/answer", json={"sdp": await phones[1].answer(offer)}, headers=second
            )
            assert taken.status_code == 200, taken.text
            late = await world.client.post(
                f"/api/calls/{call['id']}/answer", json={"sdp": await phones[0].answer(offer)}, headers=first
            )
            assert late.status_code == 409 and late.json()["extra"]["code"] == "call_taken"
            detail = await get_call(world, call["id"], first)
            assert detail["answered_by"] == await account_of(MEMBER_PHONE) and detail["offer"] == ""
            # Neither may the member who did not answer open the door or end the other's call.
            door = await world.client.post(f"/api/calls/{call['id']}/open", headers=first)
            assert door.status_code == 409 and door.json()["extra"]["code"] == "not_answered_by_you"
            assert not opened(simulator)
            hang = await world.client.post(f"/api/calls/{call['id']}/hangup", headers=first)
            assert hang.status_code == 409
            assert (await get_call(world, call["id"], second))["state"] == "answered"
        finally:
            for phone in phones:
                await phone.close()


async def ringing_call(world) -> int:
    panel, room = await panel_at(world.home_house)
    call = IntercomCall(
        community=world.home,
        device=panel.id,
        unit=panel.unit,
        house=world.home_house,
        room=room,
        panel_call="attack",
        key=f"attack:{uuid.uuid4().hex}",
        offer="v=0\r\n",
        ring_order=[await resident(world)],
        ringing=await resident(world),
    )
    await call.save()
    return call.id


async def lived_in(community: int, besides: int = 0) -> int:
    """A flat of ``community`` with someone living there (not ``besides``)."""
    row = (
        await Residency.select(Residency.house)
        .where(
            (Residency.community == community) & (Residency.house != besides) & Residency.account.is_null()
        )
        .order_by(Residency.id)
        .first()
    )
    return row["house"]


async def test_a_stranger_who_knows_the_call_id_gets_nothing(world):
    call = await ringing_call(world)
    neighbour_house = await lived_in(world.home, besides=world.home_house)
    other_house = await lived_in(world.other)
    callers = {
        "a resident of another flat": await member_of(world, neighbour_house, STRANGER_PHONE),
        "a resident of another community": await member_of(world, other_house, OTHER_COMMUNITY_PHONE),
        "property staff": await world.headers(Role.PROPERTY),
        "the community police": await world.headers(Role.POLICE),
        "anonymous": {},
    }
    requests = [
        ("GET", f"/api/calls/{call}", None),
        ("POST", f"/api/calls/{call}/answer", {"sdp": "v=0\r\n"}),
        ("POST", f"/api/calls/{call}/hangup", None),
        ("POST", f"/api/calls/{call}/open", None),
        ("GET", f"/api/houses/{world.home_house}/calls", None),
        ("GET", f"/api/houses/{world.home_house}/calls/live", None),
    ]
    for name, headers in callers.items():
        for method, path, body in requests:
            response = await world.client.request(
                method, path, json=body, headers={**headers, "Accept": "text/event-stream"}
            )
            assert response.status_code == (401 if not headers else 403), f"{name}: {method} {path}"
    row = await IntercomCall.select().where(IntercomCall.id == call).first()
    assert (row["state"], row["answered_by"]) == ("ringing", None)  # nothing changed


async def test_a_captured_ring_replayed_rings_once_and_a_stale_one_not_at_all(world, settings):
    fleet = Fleet(world, settings)
    panel, _, _ = await fleet.device(DeviceKind.INTERCOM)
    room = (await House.select(House.room_no).where(House.unit == panel.unit).order_by(House.id).first())[
        "room_no"
    ]
    data = {"call": "captured", "action": "ring", "house": room, "sdp": "v=0\r\n"}
    async with running(build_bridge(settings, world.ctx.keys, unique("intercom"), batch_seconds=0.01)):
        captured = await fleet.publish(DeviceKind.INTERCOM, [(uuid.uuid4().hex, EventType.CALL, data)])
        await eventually(lambda: IntercomCall.exists().where(IntercomCall.panel_call == "captured"))
        await fleet.replay(DeviceKind.INTERCOM, captured * 3)
        old = datetime.now(UTC) - timedelta(seconds=settings.device_clock_skew_seconds + 60)
        stale = {**data, "call": "stale"}
        await fleet.publish(DeviceKind.INTERCOM, [(uuid.uuid4().hex, EventType.CALL, stale)], ts=old)
        marker = {**data, "call": "after"}  # a fresh ring after both: once it is in, they were handled
        await fleet.publish(DeviceKind.INTERCOM, [(uuid.uuid4().hex, EventType.CALL, marker)])
        await eventually(lambda: IntercomCall.exists().where(IntercomCall.panel_call == "after"))
    assert await IntercomCall.count().where(IntercomCall.panel_call == "captured") == 1
    assert not await IntercomCall.exists().where(IntercomCall.panel_call == "stale")


async def test_the_visitor_hanging_up_first_is_a_missed_call(world, settings):
    headers = await world.headers(Role.RESIDENT)
    panel, room = await panel_at(world.home_house)
    async with simulated(world, settings) as simulator:
        panel_call = await simulator.call(panel.code, room)
        call = await the_call(world, headers)
        await simulator.devices[panel.code].hang_up(panel_call)

        async def missed() -> bool:
            return (await get_call(world, call["id"], headers))["state"] == "missed"

        await eventually(missed, 10)


async def test_a_panel_whose_call_nobody_ends_hangs_up_by_itself(world, settings):
    """The platform unreachable for the ring's whole time (no bridge moves it on): the panel gives up
    and says so, and the call is missed once the bridge hears it."""
    from pathlib import Path

    from backend.devices.service import fleet
    from device_bridge.simulator import Simulator

    headers = await world.headers(Role.RESIDENT)
    panel, room = await panel_at(world.home_house)
    devices = [d for d in await fleet(world.ctx, world.home) if d.code == panel.code]
    simulator = Simulator(
        settings.broker,
        devices,
        settings.mqtt_prefix,
        event_interval=60,
        state_dir=Path(settings.var_dir) / "devices",
        panel_give_up=0.5,
    )
    async with running(build_bridge(settings, world.ctx.keys, unique("intercom"), batch_seconds=0.01)):
        task = asyncio.create_task(simulator.run())
        try:
            await asyncio.wait_for(asyncio.gather(*(d.online.wait() for d in simulator.devices.values())), 10)
            panel_call = await simulator.call(panel.code, room)
            call = await the_call(world, headers)

            async def missed() -> bool:
                return (await get_call(world, call["id"], headers))["state"] == "missed"

            await eventually(missed, 10)
            assert panel_call not in simulator.devices[panel.code].panel.calls
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await simulator.forget()


async def streamed(messages) -> list[tuple[str, dict]]:
    """The events a stream delivers at once (what was announced before it opened, resumed from id 0)."""
    found: list[tuple[str, dict]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            async for message in messages:
                if message.id is not None:
                    found.append((message.event, msgspec.json.decode(message.data)))
    return found


async def test_calls_stream_to_their_household_only_never_to_the_communitys_board(world):
    from backend.accounts.service import principal_from_token
    from backend.intercom import service as intercom
    from backend.live import service as live
    from backend.live.outbox import announce

    async with transaction() as writer:
        await announce(writer, community=world.home, topic="alarm", payload={"id": 1})
        for house in (world.home_house, world.home_house + 1):
            await ringing.changed(writer, community=world.home, call_id=house, house=house, state="missed")

    async def principal(role: Role):
        headers = await world.headers(role)
        return await principal_from_token(world.ctx, headers["Authorization"].removeprefix("Bearer "))

    sse = {"accept": "text/event-stream", "last_event_id": "0"}
    board = await live.watch(world.ctx.live, await principal(Role.WARDEN), world.home, **sse)
    assert [topic for topic, _ in await streamed(board)] == ["alarm"]
    household = await intercom.watch(world.ctx, await principal(Role.RESIDENT), world.home_house, **sse)
    assert await streamed(household) == [
        ("call", {"id": world.home_house, "house": world.home_house, "state": "missed", "ringing": None})
    ]
