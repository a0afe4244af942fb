"""Hikvision terminals pushing ISAPI event notifications over HTTP, on recorded payloads."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from backend.access.tables import AccessRecord
from backend.credentials.tables import Credential
from backend.devices.tables import Device, DeviceEvent, DeviceKind
from backend.seed import DEMO_CARDS
from device_bridge.acl import device_password
from device_bridge.adapters import hikvision
from device_bridge.bridge import running
from tests.integration.test_bridge import Fleet, eventually, new_bridge

URL = "/api/devices/hikvision/events"
RECORDED = Path(__file__).resolve().parent.parent / "unit" / "device_payloads"
WUHAN = timezone(timedelta(hours=8))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2048 + b"\xff\xd9"  # the terminal's capture, as bytes go


def recorded(
    name: str = "hik_push_card_granted.json", serial: int = 18342, card: str = DEMO_CARDS[0], **at
) -> bytes:
    """A recorded push, as the terminal would send it now (its serial and card chosen)."""
    message = json.loads((RECORDED / name).read_text())
    message["dateTime"] = (datetime.now(WUHAN) + timedelta(**at)).isoformat(timespec="seconds")
    message["AccessControllerEvent"] |= {"serialNo": serial, "cardNo": card}
    return json.dumps(message, ensure_ascii=False).encode()


async def terminal(world, kind: DeviceKind = DeviceKind.FACE_GATE) -> tuple[Device, str]:
    device = await Device.objects().where((Device.community == world.home) & (Device.kind == kind)).first()
    return device, device_password(world.ctx.keys.unseal(device.secret_sealed).encode())


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def multipart(event: bytes, picture: bool = True) -> dict:
    files = {"event_log": (None, event, "application/json")}
    if picture:
        files["Picture"] = ("Picture.jpg", JPEG, "image/jpeg")
    return {"files": files}


async def card_holder(world) -> int:
    """The holder of the community's seeded card."""
    row = await Credential.select(Credential.person).where(Credential.community == world.home).first()
    return row["person"]


async def test_a_pushed_card_pass_is_stored_with_its_holder_and_no_picture(world):
    device, password = await terminal(world)
    response = await world.client.post(URL, headers=basic(device.code, password), **multipart(recorded()))
    assert response.status_code == 200, response.text
    assert response.json() == {"events": 1, "stored": 1, "picture": True}
    record = await AccessRecord.objects().first()
    assert (record.device, record.method, record.resolution) == (device.id, "card", "person")
    assert record.person == await card_holder(world) and record.name and record.id_number_sealed
    assert (record.credential, record.sk_fsdm, record.direction) == (DEMO_CARDS[0], "01", "in")
    event = await DeviceEvent.objects().first()
    data = event.data if isinstance(event.data, dict) else json.loads(event.data)
    # The terminal's own name and employee number are kept in the event; the capture is not.
    assert (data["name"], data["employee_no"], data["picture_received"]) == ("张伟", "10021", True)
    assert "\\xff" not in json.dumps(data) and len(json.dumps(data)) < 500


async def test_digest_authentication_as_terminals_use_it(world):
    device, password = await terminal(world)
    digest = httpx.DigestAuth(device.code, password)
    response = await world.client.post(URL, auth=digest, **multipart(recorded(serial=7)))
    assert response.status_code == 200, response.text
    wrong = await world.client.post(
        URL, auth=httpx.DigestAuth(device.code, "0" * 64), **multipart(recorded(serial=8))
    )
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Digest ")
    assert await AccessRecord.count() == 1


async def test_a_bare_json_push_without_picture_is_read_too(world):
    device, password = await terminal(world)
    response = await world.client.post(
        URL,
        headers={**basic(device.code, password), "Content-Type": "application/json"},
        content=recorded(serial=9),
    )
    assert response.status_code == 200 and response.json()["picture"] is False


@pytest.mark.parametrize("who", ["wrong secret", "unknown device", "no credentials", "garbage header"])
async def test_unauthenticated_pushes_store_nothing(world, who):
    device, password = await terminal(world)
    headers = {
        "wrong secret": basic(device.code, password[:-1] + ("1" if password.endswith("0") else "0")),
        "unknown device": basic("ghost-terminal", password),
        "no credentials": {},
        "garbage header": {"Authorization": "Basic !!!notbase64"},
    }[who]
    response = await world.client.post(URL, headers=headers, **multipart(recorded()))
    assert response.status_code == 401 and response.json()["extra"]["code"] == "device_unauthorized"
    assert response.headers["www-authenticate"].startswith('Digest realm="anju-devices"')
    assert await DeviceEvent.count() == 0 and await AccessRecord.count() == 0


async def test_another_devices_password_does_not_open_this_one(world):
    gate, _ = await terminal(world)
    _, intercom_password = await terminal(world, DeviceKind.INTERCOM)
    response = await world.client.post(
        URL, headers=basic(gate.code, intercom_password), **multipart(recorded())
    )
    assert response.status_code == 401


async def test_a_device_that_is_no_door_cannot_push_passes(world):
    sensor, password = await terminal(world, DeviceKind.SMOKE_SENSOR)
    response = await world.client.post(URL, headers=basic(sensor.code, password), **multipart(recorded()))
    assert response.status_code == 403 and await AccessRecord.count() == 0


async def test_a_replayed_serial_is_refused_and_stored_once(world):
    device, password = await terminal(world)
    first = await world.client.post(URL, headers=basic(device.code, password), **multipart(recorded()))
    again = await world.client.post(URL, headers=basic(device.code, password), **multipart(recorded()))
    assert first.status_code == 200 and again.status_code == 409
    assert again.json()["extra"]["code"] == "replayed_event"
    assert await DeviceEvent.count() == 1 and await AccessRecord.count() == 1


async def test_an_event_from_outside_the_clock_window_is_refused(world):
    device, password = await terminal(world)
    response = await world.client.post(
        URL, headers=basic(device.code, password), **multipart(recorded(hours=-2))
    )
    assert response.status_code == 422 and response.json()["extra"]["code"] == "stale_event"
    assert await AccessRecord.count() == 0


async def test_an_oversized_body_is_refused_before_it_is_read(world):
    device, password = await terminal(world)
    huge = {
        "files": {
            "event_log": (None, recorded(), "application/json"),
            "Picture": ("p.jpg", b"\xff" * (2 << 20), "image/jpeg"),
        }
    }
    response = await world.client.post(URL, headers=basic(device.code, password), **huge)
    assert response.status_code == 413 and response.json()["detail"]
    assert await AccessRecord.count() == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_event"),
        (b'{"eventType": "heartBeat"}', "malformed_event"),
        (b"", "no_event"),
    ],
)
async def test_malformed_notifications_are_refused_with_a_reason(world, body, code):
    device, password = await terminal(world)
    files = {"event_log": (None, body, "application/json")} if body else {"other": (None, b"x", "text/plain")}
    response = await world.client.post(URL, headers=basic(device.code, password), files=files)
    assert response.status_code == 422 and response.json()["extra"]["code"] == code


async def test_the_same_pass_over_mqtt_and_http_is_stored_once_and_alike(world, settings):
    device, password = await terminal(world)
    fleet = Fleet(world, settings)
    over_http, both = recorded(serial=501), recorded(serial=502)
    [mqtt_item] = hikvision.translate(both, device.code)
    async with running(new_bridge(world, settings)):
        await fleet.publish(
            DeviceKind.FACE_GATE,
            [(mqtt_item.id, mqtt_item.type, mqtt_item.data)],
            ts=datetime.fromisoformat(mqtt_item.ts),
        )
        await eventually(lambda: AccessRecord.exists().where(AccessRecord.key.like(f"%{mqtt_item.id}")))
    pushed = await world.client.post(URL, headers=basic(device.code, password), **multipart(both))
    assert pushed.status_code == 409  # the bridge stored it: the serial is the event's identity
    alone = await world.client.post(URL, headers=basic(device.code, password), **multipart(over_http))
    assert alone.status_code == 200
    records = await AccessRecord.select().order_by(AccessRecord.id)
    assert len(records) == 2 and await DeviceEvent.count() == 2
    same = (
        "device",
        "door",
        "method",
        "direction",
        "granted",
        "credential",
        "person",
        "house",
        "name",
        "ld_bm",
        "sk_fsdm",
        "resolution",
    )
    assert [records[0][c] for c in same] == [records[1][c] for c in same]
    assert records[0]["person"] is not None
    assert datetime.now(UTC) - records[1]["at"] < timedelta(minutes=1)
