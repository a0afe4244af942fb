"""Captures through the uplink: the 视图库 (GA/T 1400) target, and the city standard's 抓拍人像信息
and 机动车出入信息 rows, from the real flows (a face gate's capture and a barrier's plate read over
the real broker, through a bridge worker).

The 视图库 is tests/viid_stub.py: it demands digest auth to register, a registration before any
post, and checks every object's shape; it forgets registrations when it goes down, as a restarted
one does. The platform is tests/uplink_receiver.py.
"""

from __future__ import annotations

import base64
import datetime as dt

import cv2
import msgspec
import numpy as np
import pytest

from backend.devices.tables import Device
from backend.faces.tables import FacePassage
from backend.registry.tables import Community, District, Person
from backend.uplink import standard, viid
from backend.uplink.outbox import VIID, enqueue
from backend.uplink.tables import UplinkRecord
from backend.vehicles.tables import VehiclePassage
from device_bridge import store
from roles import Role
from tests.integration.test_face_gates import enrolled, face_gate, faces  # noqa: F401 - a fixture
from tests.integration.test_uplink import SECRET, rows, status, until
from tests.integration.test_vehicles import barrier, register
from tests.uplink_receiver import Receiver
from tests.viid_stub import ViidStub

USER, PASSWORD = "anju", "viid-password"
DEVICE_ID = "42011201002000000001"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
async def stub():
    target = ViidStub(USER, PASSWORD)
    yield target
    await target.down()


@pytest.fixture
async def receiver():
    target = Receiver(SECRET)
    await target.up()
    yield target
    await target.down()


@pytest.fixture
def settings(settings, stub, receiver, request):
    """Both targets, retrying fast, keeping alive every half second."""
    changes = {
        "uplink_url": receiver.url,
        "uplink_secret": SECRET,
        "viid_url": stub.url,
        "viid_user": USER,
        "viid_password": PASSWORD,
        "viid_device_id": DEVICE_ID,
        "viid_keepalive_seconds": 0.5,
        "uplink_timeout_seconds": 5.0,
        "uplink_retry_seconds": 0.05,
        "uplink_retry_max_seconds": 0.4,
        "live_poll_seconds": 0.2,
    }
    return msgspec.structs.replace(settings, **{**changes, **getattr(request, "param", {})})


async def viid_rows(state: str | None = None) -> list[dict]:
    return [row for row in await rows(state) if row["target"] == VIID]


async def _viid_drained() -> bool:
    return not await viid_rows("pending")


async def _platform_drained() -> bool:
    return not [row for row in await rows("pending") if row["target"] != VIID]


async def _tried_while_down() -> bool:
    pending = await viid_rows("pending")
    return len(pending) >= 5 and all(row["attempts"] >= 1 and row["last_error"] for row in pending)


async def area(world) -> str:
    community = await Community.objects().get(Community.id == world.home)
    return (await District.objects().get(District.id == community.district)).code


async def test_captures_reach_the_viid_once_each_across_its_outage_and_the_platform_as_standard_rows(
    world,
    settings,
    stub,
    receiver,
    faces,  # noqa: F811 - the fixture
):
    await stub.up()
    await until(lambda: _registered(stub), "registered and kept alive")
    await stub.down()  # an outage: and, back, the 视图库 has forgotten our registration
    enrolment = await enrolled(world, faces)
    async with face_gate(world, settings) as gate:
        resident = await gate.capture(faces["newton@gate"])
        stranger = await gate.capture(faces["astronaut@gate"])
    assert (await register(world, Role.RESIDENT, world.home_house, "鄂AD12345", "52")).status_code == 201
    async with barrier(world, settings) as plates:
        car = await plates.read("鄂AD12345")
    await until(_tried_while_down, "every 视图库 row tried while it is down")
    assert not stub.received
    await stub.up()
    await until(_viid_drained, "the 视图库 rows drained")
    assert stub.registrations >= 2, "registered again after the 视图库 forgot us"
    district = await area(world)
    faces_sent = stub.received["Faces"]
    assert set(faces_sent) == {viid.code(district, viid.FACE, p["id"]) for p in (resident, stranger)}
    assert set(stub.received["MotorVehicles"]) == {viid.code(district, viid.MOTOR_VEHICLE, car["id"])}
    assert set(stub.received["APEs"]) == {
        viid.code(district, viid.CAPTURE_DEVICE, device.id) for device in (gate.device, plates.device)
    }
    assert stub.repeats() == {} and stub.invalid == []
    face = faces_sent[viid.code(district, viid.FACE, resident["id"])]
    [image] = face["SubImageList"]["SubImageInfoObject"]
    assert base64.b64decode(image["Data"]) == faces["newton@gate"]  # the capture itself, as the gate sent it
    assert face["DeviceID"] == viid.code(district, viid.CAPTURE_DEVICE, gate.device.id)
    vehicle = stub.received["MotorVehicles"][viid.code(district, viid.MOTOR_VEHICLE, car["id"])]
    assert (vehicle["PlateNo"], vehicle["PlateClass"], vehicle["PlateColor"]) == ("鄂AD12345", "52", "5")
    assert vehicle["StorageUrl1"] == car["picture"]
    # Sent rows keep no capture.
    assert all(_decoded(row["payload"]) == {} for row in await viid_rows("sent"))
    # The platform: the standard's rows, field-exact.
    await until(_platform_drained, "the platform rows drained")
    await _the_platform_got_standard_rows(world, receiver, enrolment, resident, stranger, car, district)


async def _registered(stub: ViidStub) -> bool:
    return bool(stub.registered) and stub.keepalives > 0


async def _the_platform_got_standard_rows(world, receiver, enrolment, resident, stranger, car, district):
    matched = receiver.applied[f"face_capture/face_passage:{resident['id']}"]["row"]
    person = await Person.objects().get(Person.id == enrolment["person"])
    assert (matched["XYR_XM"], matched["XYR_ZJHM"]) == (
        person.name,
        world.ctx.keys.unseal(person.id_number_encrypted),
    )
    face_id = viid.code(district, viid.FACE, resident["id"])
    assert matched["TP"] == matched["ZP_ZP"] == f"/VIID/Faces/{face_id}" and matched["FX"] == "进"
    assert not standard.check("face_capture", _typed("face_capture", matched))
    gate = await Device.objects().get(Device.id == resident["device"])
    assert (matched["CJSB_BH"], matched["SBMC"]) == (gate.code, gate.name)
    # The stranger names nobody: rejected with that reason, never sent.
    [unknown] = [row for row in await rows("rejected") if row["table_key"] == "face_capture"]
    assert unknown["record_key"] == f"face_passage:{stranger['id']}"
    assert {"XYR_XM", "XYR_ZJHM"} <= {p["field"] for p in _decoded(unknown["problems"])}
    plate = receiver.applied[f"vehicle_access/vehicle_passage:{car['id']}"]["row"]
    assert (plate["JDCHPHM"], plate["JDCHPZLDM"], plate["JDCCSYSDM"], plate["CPYS"]) == (
        "鄂AD12345",
        "52",
        "A",
        "5",
    )
    assert plate["ZP"] == car["picture"] and plate["ZDCL_PDBS"] == "0"
    assert not standard.check("vehicle_access", _typed("vehicle_access", plate))
    assert receiver.repeats() == {}
    assert await FacePassage.count() == 2 and await VehiclePassage.count() == 1


def _typed(table: str, sent: dict) -> dict:
    """A row as sent, its DATEs back to points in time, for ``standard.check``."""
    dates = {f.name for f in standard.tables()[table].fields if f.type == "DATE"}
    return {
        name: dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
        if name in dates
        else value
        for name, value in sent.items()
    }


def _decoded(value):
    return msgspec.json.decode(value) if isinstance(value, str) else value


@pytest.mark.parametrize("settings", [{"viid_password": "not-the-password"}], indirect=True)
async def test_a_wrong_password_is_a_stated_failure_and_the_records_wait(world, settings, stub):
    await stub.up()
    await _owe_faces(world, [_jpeg_face(1)])
    await until(_refused_and_tried, "the registration refused and the row tried")
    assert stub.refused >= 2 and not stub.registered and not stub.received
    [row] = await viid_rows("pending")
    assert row["last_error"] == "VIID register refused: HTTP 401"
    shown = await status(world)
    assert shown["configured"] and shown["pending"] == 1
    assert shown["last_failure"] == "VIID register refused: HTTP 401"
    assert [(t["table"], t["name"], t["pending"]) for t in shown["tables"]] == [("Faces", "视图库 人脸", 1)]


async def _refused_and_tried() -> bool:
    pending = await viid_rows("pending")
    return bool(pending) and pending[0]["attempts"] >= 2 and bool(pending[0]["last_error"])


async def test_an_object_the_viid_refuses_is_rejected_with_its_reason_and_the_others_sent(
    world, settings, stub
):
    """A 19-digit FaceID is a wrong shape: the stub refuses that object (StatusCode 8) and takes
    the valid one of the same request."""
    await stub.up()
    good = _jpeg_face(1)
    bad = {**_jpeg_face(2), "FaceID": "4201120100090100000"}
    await _owe_faces(world, [good, bad])
    await until(_viid_drained, "the 视图库 rows drained")
    assert set(stub.received["Faces"]) == {good["FaceID"]}
    [rejected] = await viid_rows("rejected")
    assert rejected["record_key"] == "test:2"
    assert rejected["last_error"] == "VIID 8 FaceID: not 20 digits"
    assert _decoded(rejected["payload"]) == {}  # its capture is not kept either


def _jpeg_face(serial: int) -> dict:
    picture = cv2.imencode(".jpg", np.full((32, 32, 3), 128, np.uint8))[1].tobytes()
    return viid.face_object("420112", serial, serial, dt.datetime.now(dt.UTC), picture)


async def _owe_faces(world, objects: list[dict]) -> None:
    async with store.writer(UplinkRecord._meta.db) as writer:
        for serial, found in enumerate(objects, 1):
            await enqueue(
                writer, world.ctx.keys, viid.FACES, f"test:{serial}", world.home, found, target=VIID
            )
