"""Face gates end to end: a simulated gate sends real captures over the real broker, a bridge worker
decides against the community's gallery, the gate gets a real ``open``; the watch list, the capture
sink and what is (not) kept; with the attacker's tests. Photos are real faces (tests/photos.py)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiomqtt
import cv2
import httpx
import msgspec
import pytest

from backend.alarms.tables import Alarm
from backend.devices.ingest import transaction
from backend.devices.service import fleet
from backend.devices.tables import Device, DeviceEvent, DeviceKind
from backend.faces import gates
from backend.faces.captures import erase_expired
from backend.faces.engine import Engine
from backend.faces.sealed import unseal
from backend.faces.tables import CaptureOutbox, FaceEnrolment, FaceGallery, FacePassage
from backend.live.tables import LiveEvent
from backend.registry.tables import Residency
from device_bridge import protocol
from device_bridge.acl import device_password
from device_bridge.bridge import running
from device_bridge.protocol import Channel, Direction
from device_bridge.simulator import Simulator
from device_bridge.transport import client_options
from roles import Role
from tests import photos
from tests.integration.test_bridge import eventually, new_bridge, played
from tests.integration.test_credentials import resident_person
from tests.integration.test_faces import enrol

SINK_SECRET = "sink-secret-for-tests"


@pytest.fixture(scope="module")
def faces(face_pack) -> dict[str, bytes]:
    """JPEGs: enrolment photos, and what a gate camera sends of the same people (another take)."""
    people = photos.people(Engine(face_pack))

    def jpeg(image) -> bytes:
        return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()

    def at_gate(image) -> bytes:
        """As a gate sends a capture: a crop of at most 240 px."""
        scale = min(1.0, 240 / max(image.shape[:2]))
        return jpeg(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))

    return {
        "newton": jpeg(people["newton-0"]),
        "newton@gate": at_gate(photos.brighter(photos.flip(people["newton-0"]))),
        "gauss": jpeg(people["gauss-0"]),
        "gauss@gate": at_gate(photos.blurred(people["gauss-0"])),
        "astronaut@gate": at_gate(photos.flip(people["astronaut-0"])),
        "wall": jpeg(photos.framed(people["newton-0"], 320, 240)[:40, :40]),  # no face in it
    }


class Gate:
    """The home community's seeded face gate, played by the simulator."""

    def __init__(self, device: Device, simulator: Simulator) -> None:
        self.device, self.simulator = device, simulator

    async def capture(self, image: bytes, direction: Direction = Direction.IN, **on_gate) -> dict:
        """A person at the gate; the decision once the bridge has recorded it."""
        event = await self.simulator.capture_face(self.device.code, image, direction, **on_gate)
        key = f"ev:{self.device.id}:{event}"
        await eventually(lambda: FacePassage.exists().where(FacePassage.key == key), 20)
        return await FacePassage.select().where(FacePassage.key == key).first()

    def opened(self) -> list[str]:
        return self.simulator.devices[self.device.code].opened


@contextlib.asynccontextmanager
async def face_gate(world, settings, **bridge_options):
    device = await seeded_gate(world)
    async with (
        running(new_bridge(world, settings, "faces", **bridge_options)),
        played(world, settings, device.code) as simulator,
    ):
        yield Gate(device, simulator)


async def enrolled(world, faces, photo: str = "newton") -> dict:
    response = await enrol(world, Role.RESIDENT, world.home_house, await resident_person(world), faces[photo])
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_enrolled_resident_passes_and_the_gate_opens_a_stranger_does_not(world, settings, faces):
    enrolment = await enrolled(world, faces)
    async with face_gate(world, settings) as gate:
        passage = await gate.capture(faces["newton@gate"])
        assert (passage["reason"], passage["passed"]) == ("matched", True)
        assert (passage["person"], passage["house"], passage["enrolment"]) == (
            enrolment["person"],
            world.home_house,
            enrolment["id"],
        )
        assert passage["score"] >= 0.58 and passage["command"] == f"face-{passage['key'][3:]}"
        await eventually(lambda: asyncio.sleep(0, passage["command"] in gate.opened()), 10)
        await eventually(lambda: FacePassage.exists().where(FacePassage.opened.eq(True)), 10)

        stranger = await gate.capture(faces["astronaut@gate"])
        assert (stranger["reason"], stranger["passed"], stranger["person"], stranger["command"]) == (
            "unknown",
            False,
            None,
            "",
        )
        assert len(gate.opened()) == 1
    # Nothing of either capture is kept: not on the record, not in the stored event, not in an outbox.
    assert {row["capture_sealed"] for row in await FacePassage.select(FacePassage.capture_sealed)} == {""}
    events = await DeviceEvent.select(DeviceEvent.data).where(DeviceEvent.type == "face")
    assert len(events) == 2 and all("not kept" in json.dumps(e["data"]) for e in events)
    assert await CaptureOutbox.count() == 0


async def test_a_deleted_enrolment_no_longer_opens_the_gate(world, settings, faces):
    enrolment = await enrolled(world, faces)
    async with face_gate(world, settings) as gate:
        assert (await gate.capture(faces["newton@gate"]))["passed"] is True
        deleted = await world.client.delete(
            f"/api/faces/{enrolment['id']}", headers=await world.headers(Role.RESIDENT)
        )
        assert deleted.status_code == 204
        after = await gate.capture(faces["newton@gate"])
        assert (after["reason"], after["passed"], after["person"]) == ("unknown", False, None)
        assert len(gate.opened()) == 1


async def test_a_resident_who_moved_out_is_recognised_but_not_let_in(world, settings, faces):
    enrolment = await enrolled(world, faces)
    async with face_gate(world, settings) as gate:
        await Residency.update({Residency.end_date: dt.date.today() - dt.timedelta(days=1)}).where(
            (Residency.person == enrolment["person"]) & (Residency.house == world.home_house)
        )
        passage = await gate.capture(faces["newton@gate"])
    assert (passage["reason"], passage["passed"], passage["person"]) == (
        "not_allowed",
        False,
        enrolment["person"],
    )


async def test_captures_without_a_face_or_not_images_are_refused_with_their_reason(world, settings, faces):
    await enrolled(world, faces)
    async with face_gate(world, settings) as gate:
        assert (await gate.capture(faces["wall"]))["reason"] == "no_face"
        assert (await gate.capture(b"not an image at all"))["reason"] == "unreadable"
        assert gate.opened() == []


async def test_a_replayed_capture_is_decided_and_opened_once(world, settings, faces):
    """An attacker who recorded a resident's capture message publishes it again: the event key makes
    it a no-op (within the skew window; outside it, the bridge refuses it as stale)."""
    await enrolled(world, faces)
    async with face_gate(world, settings) as gate:
        device = gate.simulator.devices[gate.device.code]
        recorded: list[tuple[str, bytes]] = []
        publish = device._client.publish

        async def recording(topic, payload, **kwargs):
            recorded.append((topic, payload))
            return await publish(topic, payload, **kwargs)

        device._client.publish = recording
        passage = await gate.capture(faces["newton@gate"])
        topic, payload = next((t, p) for t, p in recorded if t.endswith("/event"))
        await publish(topic, payload, qos=1)
        await publish(topic, payload, qos=1)
        await asyncio.sleep(1.0)
        assert await FacePassage.count().where(FacePassage.key == passage["key"]) == 1
        assert gate.opened() == [passage["command"]]


# --- the police watch list -------------------------------------------------------------------


async def watch(world, photo: bytes, name="张某", note="协查 2026-118", side="home", role=Role.POLICE):
    return await world.client.post(
        f"/api/communities/{world.home}/face-watch",
        params={"name": name, "note": note},
        content=photo,
        headers={**await world.headers(role, side), "Content-Type": "image/jpeg"},
    )


async def test_a_watched_face_raises_a_police_only_alarm_with_its_capture(world, settings, faces):
    added = await watch(world, faces["gauss"])
    assert added.status_code == 201, added.text
    async with face_gate(world, settings) as gate:
        passage = await gate.capture(faces["gauss@gate"])
    assert (passage["passed"], passage["watch"]) == (False, added.json()["id"])
    assert gate.opened() == []
    [alarm] = await Alarm.select().where(Alarm.type == "watched_person")
    assert (alarm["community"], alarm["device"], alarm["category"]) == (world.home, gate.device.id, "person")
    assert "张某" in alarm["detail"] and "协查" in alarm["detail"]
    assert not [e for e in await LiveEvent.select(LiveEvent.payload) if "张某" in str(e["payload"])]

    police = await world.headers(Role.POLICE)
    shown = await world.client.get(f"/api/alarms/{alarm['id']}/capture", headers=police)
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert shown.content == faces["gauss@gate"]  # the capture as the gate sent it
    for role, side in [(r, "home") for r in Role if r is not Role.POLICE] + [(Role.POLICE, "other")]:
        refused = await world.client.get(
            f"/api/alarms/{alarm['id']}/capture", headers=await world.headers(role, side)
        )
        assert refused.status_code == 403, (role, side)
    assert (await world.client.get(f"/api/alarms/{alarm['id']}/capture")).status_code == 401

    # Staff reading the gate's records do not learn that the face is watched; police do.
    warden = await world.client.get(
        f"/api/communities/{world.home}/face-passages", headers=await world.headers(Role.WARDEN)
    )
    assert warden.status_code == 200 and "watched" not in warden.json()[0]
    officer = await world.client.get(f"/api/communities/{world.home}/face-passages", headers=police)
    assert officer.json()[0]["watched"] is True


async def test_the_sighting_capture_is_erased_after_its_window(world, settings, faces):
    assert (await watch(world, faces["gauss"])).status_code == 201
    brief = msgspec.structs.replace(settings, watch_capture_hours=1e-9)
    async with face_gate(world, brief) as gate:
        passage = await gate.capture(faces["gauss@gate"])
    assert passage["capture_sealed"]
    await erase_expired(transaction)
    assert (
        await FacePassage.select(FacePassage.capture_sealed).where(FacePassage.id == passage["id"]).first()
    )["capture_sealed"] == ""
    [alarm] = await Alarm.select(Alarm.id).where(Alarm.type == "watched_person")
    gone = await world.client.get(
        f"/api/alarms/{alarm['id']}/capture", headers=await world.headers(Role.POLICE)
    )
    assert gone.status_code == 404 and gone.json()["extra"]["code"] == "no_capture"


async def test_nobody_but_the_communitys_police_reads_or_sets_the_face_watch_list(world, faces):
    for role, side in [(r, "home") for r in Role if r is not Role.POLICE] + [(Role.POLICE, "other")]:
        assert (await watch(world, faces["gauss"], side=side, role=role)).status_code == 403, (role, side)
        listed = await world.client.get(
            f"/api/communities/{world.home}/face-watch", headers=await world.headers(role, side)
        )
        assert listed.status_code == 403
    assert (await world.client.get(f"/api/communities/{world.home}/face-watch")).status_code == 401
    added = (await watch(world, faces["gauss"])).json()
    stranger = await world.headers(Role.POLICE, "other")
    assert (
        await world.client.get(f"/api/face-watch/{added['id']}/photo", headers=stranger)
    ).status_code == 403
    assert (await world.client.delete(f"/api/face-watch/{added['id']}", headers=stranger)).status_code == 403


async def test_a_watch_photo_must_show_one_clear_face_and_a_name(world, faces):
    assert (await watch(world, faces["wall"])).json()["extra"]["code"] == "no_face"
    assert (await watch(world, faces["gauss"], name="")).json()["extra"]["code"] == "name_required"


async def test_an_unwatched_face_raises_nothing_any_more(world, settings, faces):
    added = (await watch(world, faces["gauss"])).json()
    police = await world.headers(Role.POLICE)
    assert (await world.client.delete(f"/api/face-watch/{added['id']}", headers=police)).status_code == 204
    async with face_gate(world, settings) as gate:
        passage = await gate.capture(faces["gauss@gate"])
    assert passage["watch"] is None and await Alarm.count().where(Alarm.type == "watched_person") == 0


# --- the capture sink (seed 五.(五): forwarded, not kept) ---------------------------------------


class Sink:
    """A police platform's capture intake on loopback: answers ``fail_first`` requests with 503."""

    def __init__(self, fail_first: int) -> None:
        self.received: list[tuple[dict, bytes]] = []  # (headers, body)
        self._fail = fail_first
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if sink._fail > 0:
                    sink._fail -= 1
                    self.send_response(503)
                else:
                    sink.received.append((dict(self.headers), body))
                    self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/captures"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_captures_reach_the_sink_signed_once_each_through_its_outage_and_are_not_kept(
    world, settings, faces
):
    await enrolled(world, faces)
    sink = Sink(fail_first=2)
    forwarding = msgspec.structs.replace(settings, capture_sink_url=sink.url, capture_sink_secret=SINK_SECRET)
    try:
        async with face_gate(world, forwarding) as gate:
            resident = await gate.capture(faces["newton@gate"])
            stranger = await gate.capture(faces["astronaut@gate"])
            await eventually(lambda: asyncio.sleep(0, len(sink.received) >= 2), 30)
            await eventually(lambda: _none(CaptureOutbox), 10)
            await asyncio.sleep(1.5)  # a forwarding round more: nothing is sent twice
    finally:
        sink.close()
    documents = {}
    for headers, body in sink.received:
        signature = hmac.new(SINK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Anju-Signature"] == f"sha256={signature}"
        document = json.loads(body)
        assert headers["Idempotency-Key"] == document["key"]
        documents[document["key"]] = document
    assert len(sink.received) == 2 and set(documents) == {resident["key"], stranger["key"]}
    sent = documents[resident["key"]]
    assert (sent["device"], sent["passed"], sent["reason"], sent["direction"]) == (
        gate.device.code,
        True,
        "matched",
        "in",
    )
    assert base64.b64decode(sent["image"]) == faces["newton@gate"]
    assert {row["capture_sealed"] for row in await FacePassage.select(FacePassage.capture_sealed)} == {""}


async def _none(table) -> bool:
    return await table.count() == 0


async def test_a_forged_capture_signed_with_another_devices_secret_decides_nothing(world, settings, faces):
    """A stranger who knows a gate's code but not its secret publishes a resident's face as the gate."""
    await enrolled(world, faces)
    async with face_gate(world, settings) as gate:
        device = gate.simulator.devices[gate.device.code]
        topic = device.topic(Channel.EVENT)
        payload = protocol.encode(
            secrets.token_bytes(32),
            topic,
            "forged-1",
            "face",
            {"image": base64.b64encode(faces["newton@gate"]).decode()},
        )
        await device._client.publish(topic, payload, qos=1)
        await gate.capture(faces["astronaut@gate"])  # a genuine capture after it: the forged one was handled
    assert await FacePassage.count() == 1 and gate.opened() == []


# --- gates matching on their own ----------------------------------------------------------------


async def seeded_gate(world, community=None) -> Device:
    return (
        await Device.objects()
        .where((Device.community == (community or world.home)) & (Device.kind == DeviceKind.FACE_GATE))
        .order_by(Device.id)
        .first()
    )


def gate_auth(world, device: Device) -> httpx.BasicAuth:
    secret = world.ctx.keys.unseal(device.secret_sealed).encode()
    return httpx.BasicAuth(device.code, device_password(secret))


async def pulled(world, device: Device) -> dict:
    response = await world.client.get("/api/devices/face-gallery", auth=gate_auth(world, device))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_gate_matching_on_its_own_holds_only_the_faces_its_door_opens_for(world, settings, faces):
    enrolment = await enrolled(world, faces)
    device = await seeded_gate(world)
    switched = await world.client.put(
        f"/api/devices/{device.id}/face-matching",
        json={"on_gate": True},
        headers=await world.headers(Role.MAINTENANCE),
    )
    assert switched.json() == {"device_id": device.id, "on_gate": True}
    gallery = await pulled(world, device)
    stored = (
        await FaceEnrolment.select(FaceEnrolment.embedding_sealed)
        .where(FaceEnrolment.id == enrolment["id"])
        .first()
    )
    assert gallery["faces"] == [
        {
            "enrolment": enrolment["id"],
            "embedding": base64.b64encode(unseal(world.ctx.keys, stored["embedding_sealed"])).decode(),
        }
    ]
    assert gallery["threshold"] == pytest.approx(0.58) and gallery["version"] >= 1
    assert set(gallery) == {"version", "pack", "threshold", "sync_seconds", "faces"}  # no names, no photos

    # Deleting tells the gate at once (a signed face_sync on its command topic); its next pull lacks it.
    topic = protocol.topic(
        settings.mqtt_prefix, (await seeded_spec(world, device)).community, device.code, Channel.CMD
    )
    async with aiomqtt.Client(**client_options(settings.broker)) as listener:
        await listener.subscribe(topic)
        deleted = await world.client.delete(
            f"/api/faces/{enrolment['id']}", headers=await world.headers(Role.RESIDENT)
        )
        assert deleted.status_code == 204
        async with asyncio.timeout(10):
            message = await anext(aiter(listener.messages))
    envelope = protocol.decode(message.payload)
    protocol.verify(world.ctx.keys.unseal(device.secret_sealed).encode(), topic, envelope)
    assert envelope.data["action"] == "face_sync" and envelope.data["version"] == gallery["version"] + 1
    assert (await pulled(world, device))["faces"] == []


async def test_a_moved_out_resident_is_not_issued_to_the_gate(world, faces):
    enrolment = await enrolled(world, faces)
    device = await seeded_gate(world)
    await Device.update({Device.matches_faces: True}).where(Device.id == device.id)
    await Residency.update({Residency.end_date: dt.date.today() - dt.timedelta(days=1)}).where(
        (Residency.person == enrolment["person"]) & (Residency.house == world.home_house)
    )
    assert (await pulled(world, device))["faces"] == []


async def test_only_a_gate_matching_on_its_own_with_its_own_credentials_gets_a_gallery(world, faces):
    await enrolled(world, faces)
    device = await seeded_gate(world)
    refused = await world.client.get("/api/devices/face-gallery", auth=gate_auth(world, device))
    assert refused.status_code == 403 and refused.json()["extra"]["code"] == "not_matching_on_gate"
    await Device.update({Device.matches_faces: True}).where(Device.id == device.id)
    assert (await world.client.get("/api/devices/face-gallery")).status_code == 401
    wrong = httpx.BasicAuth(device.code, "a guessed password")
    assert (await world.client.get("/api/devices/face-gallery", auth=wrong)).status_code == 401
    # Another community's gate, matching on its own, gets its own community's gallery: not ours.
    theirs = await seeded_gate(world, world.other)
    await Device.update({Device.matches_faces: True}).where(Device.id == theirs.id)
    assert (await pulled(world, theirs))["faces"] == []
    # A switch is maintenance's, in its own community, and only for face gates.
    for role, side in [
        (Role.RESIDENT, "home"),
        (Role.PROPERTY, "home"),
        (Role.POLICE, "home"),
        (Role.MAINTENANCE, "other"),
    ]:
        answer = await world.client.put(
            f"/api/devices/{device.id}/face-matching",
            json={"on_gate": False},
            headers=await world.headers(role, side),
        )
        assert answer.status_code == 403, (role, side)


async def test_a_gates_own_decision_is_recorded_and_its_capture_still_meets_the_watch_list(
    world, settings, faces
):
    enrolment = await enrolled(world, faces)
    assert (await watch(world, faces["gauss"])).status_code == 201
    async with face_gate(world, settings) as gate:
        resident = await gate.capture(b"", match=enrolment["id"], score=0.9, granted=True)
        watched = await gate.capture(faces["gauss@gate"], match=None, score=0.2, granted=False)
    assert (resident["reason"], resident["passed"], resident["person"], resident["command"]) == (
        "on_gate",
        True,
        enrolment["person"],
        "",
    )
    assert gate.opened() == []  # the gate opened itself; the platform sends nothing
    assert (watched["reason"], watched["passed"]) == ("on_gate", False) and watched["watch"] is not None
    assert await Alarm.count().where(Alarm.type == "watched_person") == 1


async def seeded_spec(world, device: Device):
    return next(s for s in await fleet(world.ctx, world.home) if s.code == device.code)


# --- captures over HTTP ------------------------------------------------------------------------


async def post_capture(world, device: Device, image: bytes, capture_id: str, auth=None):
    return await world.client.post(
        "/api/devices/face-captures",
        params={"id": capture_id, "direction": "in"},
        content=image,
        headers={"Content-Type": "image/jpeg"},
        auth=auth or gate_auth(world, device),
    )


async def test_a_gate_posting_a_capture_over_http_is_answered_with_the_decision(world, faces):
    enrolment = await enrolled(world, faces)
    device = await seeded_gate(world)
    answer = await post_capture(world, device, faces["newton@gate"], "cap-1")
    assert answer.status_code == 200, answer.text
    assert answer.json()["open"] is True and answer.json()["reason"] == "matched"
    again = await post_capture(world, device, faces["astronaut@gate"], "cap-1")  # a retry: the first answer
    assert again.json() == answer.json()
    stranger = await post_capture(world, device, faces["astronaut@gate"], "cap-2")
    assert (stranger.json()["open"], stranger.json()["reason"]) == (False, "unknown")
    [passage] = await FacePassage.select().where(FacePassage.key == f"ev:{device.id}:cap-1")
    assert (passage["person"], passage["command"], passage["capture_sealed"]) == (enrolment["person"], "", "")
    garbage = await post_capture(world, device, b"not an image", "cap-3")
    assert (garbage.json()["open"], garbage.json()["reason"]) == (False, "unreadable")


async def test_only_a_face_gate_with_its_own_credentials_posts_captures(world, faces):
    await enrolled(world, faces)
    device = await seeded_gate(world)
    anonymous = await world.client.post(
        "/api/devices/face-captures", params={"id": "x"}, content=faces["newton@gate"]
    )
    assert anonymous.status_code == 401
    wrong = httpx.BasicAuth(device.code, "a guessed password")
    assert (await post_capture(world, device, faces["newton@gate"], "x", wrong)).status_code == 401
    for kind in (DeviceKind.INTERCOM, DeviceKind.EMERGENCY_BUTTON):  # a door device, and another
        other = await Device.objects().where((Device.community == world.home) & (Device.kind == kind)).first()
        refused = await post_capture(world, other, faces["newton@gate"], "x")
        assert refused.status_code == 403, kind
    assert await FacePassage.count() == 0


async def test_the_face_of_someone_who_moved_out_is_deleted(world, faces):
    enrolment = await enrolled(world, faces)
    version = await FaceGallery.select(FaceGallery.version).where(FaceGallery.community == world.home).first()
    assert await gates.forget_departed(transaction) == 0  # still living there: kept
    await Residency.update({Residency.end_date: dt.date.today() - dt.timedelta(days=1)}).where(
        (Residency.person == enrolment["person"]) & (Residency.house == world.home_house)
    )
    assert await gates.forget_departed(transaction) == 1
    assert not await FaceEnrolment.exists().where(FaceEnrolment.id == enrolment["id"])
    after = await FaceGallery.select(FaceGallery.version).where(FaceGallery.community == world.home).first()
    assert after["version"] == version["version"] + 1
