"""Video through the API: cameras and recorders, coverage gaps, retention, inspection rounds."""

from __future__ import annotations

import datetime as dt
import io

from PIL import Image

from backend.accounts.tables import Account
from backend.audit.tables import AuditEntry
from backend.devices.tables import Device
from backend.registry.tables import Unit
from backend.video.service import LOCAL
from backend.video.tables import InspectionRound, InspectionSchedule
from roles import Role


def community(world, side: str) -> int:
    return world.home if side == "home" else world.other


async def get(world, path: str, role: Role = Role.PROPERTY, side: str = "home"):
    response = await world.client.get(path, headers=await world.headers(role, side))
    assert response.status_code == 200, response.text
    return response.json()


async def send(world, method: str, path: str, body=None, role: Role = Role.PROPERTY, side: str = "home"):
    return await world.client.request(method, path, json=body, headers=await world.headers(role, side))


async def new_camera_device(world, code: str, side: str = "home") -> int:
    """A camera provisioned by the maintenance centre, as a deployment adds one."""
    body = {"community_id": community(world, side), "code": code, "kind": "camera", "name": f"{code} 摄像机"}
    response = await send(world, "POST", "/api/devices", body, Role.MAINTENANCE, side)
    assert response.status_code == 201, response.text
    return response.json()["device"]["id"]


async def coverage(world, side: str = "home", role: Role = Role.PROPERTY) -> dict:
    return await get(world, f"/api/communities/{community(world, side)}/video/coverage", role, side)


def png(colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, format="PNG")
    return out.getvalue()


async def test_cameras_are_registered_on_devices_with_their_area_place_and_channel(world):
    cameras = await get(world, f"/api/communities/{world.home}/video/cameras")
    assert {c["area"] for c in cameras} == {"perimeter", "community_entrance", "car_park", "unit_entrance"}
    [recorder] = await get(world, f"/api/communities/{world.home}/video/recorders")
    assert recorder["channels"] == 5 and recorder["retention_days"] == 30

    device = await new_camera_device(world, "cam-passage")
    unit = await Unit.select().where(Unit.community == world.home).order_by(Unit.id, ascending=False).first()
    body = {
        "device_id": device,
        "area": "main_passage",
        "building_id": unit["building"],
        "unit_id": unit["id"],
        "place": "主干道东段",
        "recorder_id": recorder["id"],
        "channel": 6,
    }
    added = await send(world, "POST", f"/api/communities/{world.home}/video/cameras", body)
    assert added.status_code == 201, added.text
    camera = added.json()
    assert (camera["area"], camera["channel"], camera["unit_id"]) == ("main_passage", 6, unit["id"])
    placed = await Device.select(Device.building, Device.unit).where(Device.id == device).first()
    assert placed == {"building": unit["building"], "unit": unit["id"]}  # the device row says where it is

    again = await send(world, "POST", f"/api/communities/{world.home}/video/cameras", body)
    assert again.status_code == 409 and again.json()["extra"]["code"] == "camera_registered"
    taken = {**body, "device_id": await new_camera_device(world, "cam-dup"), "channel": 1}
    refused = await send(world, "POST", f"/api/communities/{world.home}/video/cameras", taken)
    assert refused.status_code == 409 and refused.json()["extra"]["code"] == "channel_taken"
    [elsewhere] = await get(world, f"/api/communities/{world.other}/video/recorders", side="other")
    foreign = {**taken, "recorder_id": elsewhere["id"], "channel": 7}
    refused = await send(world, "POST", f"/api/communities/{world.home}/video/cameras", foreign)
    assert refused.status_code == 422 and refused.json()["extra"]["code"] == "unknown_recorder"
    sensor = await Device.select(Device.id).where(Device.code.like("%-b1-smoke")).first()
    refused = await send(
        world, "POST", f"/api/communities/{world.home}/video/cameras", {**taken, "device_id": sensor["id"]}
    )
    assert refused.status_code == 422 and refused.json()["extra"]["code"] == "not_a_camera"

    moved = await send(
        world, "PUT", f"/api/video/cameras/{camera['id']}", {"area": "lift", "unit_id": unit["id"]}
    )
    assert moved.status_code == 200 and moved.json()["area"] == "lift" and moved.json()["recorder_id"] is None

    police = await get(world, f"/api/communities/{world.home}/video/cameras", Role.POLICE)
    assert len(police) == 6
    refused = await send(
        world, "POST", f"/api/communities/{world.home}/video/recorders", {"name": "x"}, Role.POLICE
    )
    assert refused.status_code == 403
    resident = await send(world, "GET", f"/api/communities/{world.home}/video/cameras", role=Role.RESIDENT)
    assert resident.status_code == 403


async def test_coverage_names_the_required_areas_without_a_camera(world):
    found = await coverage(world)
    gaps = {(g["area"], g["place"]) for g in found["gaps"]}
    for area in ("main_passage", "public_area", "monitoring_centre", "pump_room", "power_room"):
        assert (area, "") in gaps
    assert not {g for g in gaps if g[0] in ("car_park", "perimeter", "community_entrance")}
    units = await Unit.select(Unit.id).where(Unit.community == world.home).order_by(Unit.id)
    assert [g["unit_id"] for g in found["gaps"] if g["area"] == "unit_entrance"] == [units[1]["id"]]
    assert not found["complete"]
    # Nothing runs the seeded cameras: all five are offline, and the coverage says so.
    assert sum(1 for f in found["flags"] if f["reason"] == "offline") == 5

    device = await new_camera_device(world, "cam-pump")
    body = {"device_id": device, "area": "pump_room", "place": "地下水泵房门口"}
    assert (
        await send(world, "POST", f"/api/communities/{world.home}/video/cameras", body)
    ).status_code == 201
    after = await coverage(world, role=Role.POLICE)
    assert ("pump_room", "") not in {(g["area"], g["place"]) for g in after["gaps"]}
    unrecorded = [f for f in after["flags"] if f["reason"] == "no_recorder"]
    assert [f["name"] for f in unrecorded] == ["cam-pump 摄像机"]


async def test_a_recorder_keeping_under_30_days_flags_its_channels(world):
    [recorder] = await get(world, f"/api/communities/{world.home}/video/recorders")
    assert not [f for f in (await coverage(world))["flags"] if f["reason"].startswith("retention")]

    reported = await send(
        world, "PUT", f"/api/video/recorders/{recorder['id']}/retention", {"retention_days": 15}
    )
    assert reported.status_code == 200 and reported.json()["retention_days"] == 15
    short = [f for f in (await coverage(world))["flags"] if f["reason"] == "retention_short"]
    assert len(short) == 5 and {f["retention_days"] for f in short} == {15}
    assert not [f for f in (await coverage(world, "other"))["flags"] if f["reason"] == "retention_short"]

    await send(world, "PUT", f"/api/video/recorders/{recorder['id']}/retention", {"retention_days": 30})
    assert not [f for f in (await coverage(world))["flags"] if f["reason"].startswith("retention")]
    refused = await send(
        world, "PUT", f"/api/video/recorders/{recorder['id']}/retention", {"retention_days": 15}, Role.POLICE
    )
    assert refused.status_code == 403


async def test_an_inspection_round_records_each_camera_with_a_snapshot(world):
    cameras = await get(world, f"/api/communities/{world.home}/video/cameras")
    started = await send(world, "POST", f"/api/communities/{world.home}/video/inspections")
    assert started.status_code == 201, started.text
    round_ = started.json()
    assert round_["status"] == "open" and sorted(round_["unchecked"]) == sorted(c["id"] for c in cameras)
    operator = await Account.objects().get(Account.phone == world.phone(Role.PROPERTY))
    assert (round_["operator_id"], round_["operator"]) == (operator.id, operator.name)
    twice = await send(world, "POST", f"/api/communities/{world.home}/video/inspections")
    assert twice.status_code == 409 and twice.json()["extra"]["code"] == "round_open"

    checks = f"/api/video/inspections/{round_['id']}/checks"
    blocked = {"camera_id": cameras[0]["id"], "verdict": "blocked", "note": "树枝遮挡镜头"}
    recorded = await send(world, "POST", checks, blocked)
    assert recorded.status_code == 201, recorded.text
    [check] = recorded.json()["checks"]
    assert (check["verdict"], check["has_snapshot"]) == ("blocked", False)
    repeat = await send(world, "POST", checks, blocked)
    assert repeat.status_code == 409 and repeat.json()["extra"]["code"] == "already_checked"
    foreign = (await get(world, f"/api/communities/{world.other}/video/cameras", side="other"))[0]
    refused = await send(world, "POST", checks, {"camera_id": foreign["id"], "verdict": "normal"})
    assert refused.status_code == 422 and refused.json()["extra"]["code"] == "unknown_camera"

    headers = await world.headers(Role.PROPERTY)
    snapshot = f"/api/video/checks/{check['id']}/snapshot"
    wrong = await world.client.put(
        snapshot, content=b"not a picture", headers={**headers, "content-type": "text/plain"}
    )
    assert wrong.status_code == 422 and wrong.json()["extra"]["code"] == "photo_type"
    put = await world.client.put(snapshot, content=png(), headers={**headers, "content-type": "image/png"})
    assert put.status_code == 200, put.text
    assert put.json()["checks"][0]["has_snapshot"]

    ended = await send(world, "POST", f"/api/video/inspections/{round_['id']}/end")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    late = await send(world, "POST", checks, {"camera_id": cameras[1]["id"], "verdict": "normal"})
    assert late.status_code == 409 and late.json()["extra"]["code"] == "round_ended"

    # The community police read the record and its snapshot (audited); another community's may not.
    listed = await get(world, f"/api/communities/{world.home}/video/inspections", Role.POLICE)
    [seen] = [r for r in listed["rounds"] if r["id"] == round_["id"]]
    assert seen["checks"][0]["note"] == "树枝遮挡镜头" and seen["checks"][0]["has_snapshot"]
    picture = await world.client.get(snapshot, headers=await world.headers(Role.POLICE))
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(picture.content))
    assert (image.format, image.size) == ("JPEG", (64, 48))
    red, green, blue = image.getpixel((32, 24))
    assert red > 200 and green < 60 and blue < 60
    audited = await AuditEntry.exists().where(
        (AuditEntry.action == "read_inspection_snapshot")
        & (AuditEntry.subject == f"inspection_check:{check['id']}")
    )
    assert audited
    other_police = await world.client.get(snapshot, headers=await world.headers(Role.POLICE, "other"))
    assert other_police.status_code == 403


async def test_a_scheduled_window_without_a_round_is_missed(world):
    path = f"/api/communities/{world.home}/video/inspection-schedule"
    scheduled = await send(world, "PUT", path, {"rounds_per_day": 24})
    assert scheduled.status_code == 200 and scheduled.json()["rounds_per_day"] == 24
    assert scheduled.json()["missed"] == []  # nothing was owed before the schedule existed

    # The schedule began three hours ago (on the hour), and one round was made in its first hour.
    now = dt.datetime.now(LOCAL)
    first = (now - dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    await InspectionSchedule.update({InspectionSchedule.since: first}).where(
        InspectionSchedule.community == world.home
    )
    started = await send(world, "POST", f"/api/communities/{world.home}/video/inspections")
    await InspectionRound.update({InspectionRound.started_at: first + dt.timedelta(minutes=10)}).where(
        InspectionRound.id == started.json()["id"]
    )

    listed = await get(world, f"/api/communities/{world.home}/video/inspections", Role.POLICE)
    missed = [dt.datetime.fromisoformat(w["start"]) for w in listed["missed"]]
    assert first not in missed  # the round was made in it
    assert first + dt.timedelta(hours=1) in missed
    assert all(w < now - dt.timedelta(hours=1) + dt.timedelta(seconds=1) for w in missed)
    other = await get(world, f"/api/communities/{world.other}/video/inspections", side="other")
    assert other == {"rounds_per_day": None, "missed": [], "rounds": []}
