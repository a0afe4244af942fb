"""PTZ over ONVIF against a real SOAP server (tests/onvif_stub.py): what the camera received, the
clear errors when it refuses or is gone, who may turn it, and that its password never comes back."""

from __future__ import annotations

import json

import msgspec
import pytest

from backend.audit.tables import AuditEntry
from backend.video.tables import Camera, CameraOnvif
from roles import Role
from tests.onvif_stub import PROFILE, OnvifStub, Received

PASSWORD = "cam-pass-1"


@pytest.fixture
def settings(settings):
    return msgspec.structs.replace(settings, onvif_timeout_seconds=2.0)


@pytest.fixture
async def stub():
    async with OnvifStub(password=PASSWORD).running() as running:
        yield running


async def send(
    world, method: str, path: str, body=None, role: Role | None = Role.PROPERTY, side: str = "home"
):
    return await world.client.request(method, path, json=body, headers=await world.headers(role, side))


async def camera_of(world, side: str = "home") -> int:
    community = world.home if side == "home" else world.other
    row = await Camera.select(Camera.id).where(Camera.community == community).order_by(Camera.id).first()
    return row["id"]


async def attach(world, camera: int, port: int, password: str = PASSWORD) -> dict:
    body = {"host": "127.0.0.1", "port": port, "username": "admin", "password": password}
    response = await send(world, "PUT", f"/api/video/cameras/{camera}/onvif", body)
    assert response.status_code == 200, response.text
    return response.json()


async def ptz(world, camera: int, body: dict, role: Role | None = Role.PROPERTY, side: str = "home"):
    return await send(world, "POST", f"/api/video/cameras/{camera}/ptz", body, role, side)


async def test_moves_stop_and_presets_reach_the_camera_on_its_first_profile(world, stub):
    camera = await camera_of(world)
    shown = await attach(world, camera, stub.port)
    assert shown == {
        "camera_id": camera,
        "ptz": True,
        "host": "127.0.0.1",
        "port": stub.port,
        "username": "admin",
        "password_set": True,
    }
    cameras = (await send(world, "GET", f"/api/communities/{world.home}/video/cameras")).json()
    assert [c["ptz"] for c in cameras if c["id"] == camera] == [True]
    assert not any(c["ptz"] for c in cameras if c["id"] != camera)

    moved = await ptz(world, camera, {"action": "move", "pan": 0.5, "tilt": -0.25, "zoom": 0})
    assert moved.status_code == 200, moved.text
    assert moved.json() == {"camera_id": camera, "action": "move"}
    police = await ptz(world, camera, {"action": "move", "zoom": 1}, Role.POLICE)
    assert police.status_code == 200, police.text
    assert (await ptz(world, camera, {"action": "stop"})).status_code == 200
    presets = await send(world, "GET", f"/api/video/cameras/{camera}/ptz/presets", role=Role.POLICE)
    assert presets.status_code == 200, presets.text
    assert presets.json() == [{"token": "1", "name": "大门"}, {"token": "2", "name": "停车场"}]
    assert (await ptz(world, camera, {"action": "goto_preset", "preset": "2"})).status_code == 200

    assert stub.moves() == [
        Received("ContinuousMove", PROFILE, pan=0.5, tilt=-0.25, zoom=0.0, user="admin"),
        Received("ContinuousMove", PROFILE, pan=0.0, tilt=0.0, zoom=1.0, user="admin"),
        Received("Stop", PROFILE, user="admin"),
        Received("GotoPreset", PROFILE, preset="2", user="admin"),
    ]
    # Who turned which camera: one entry per command, with what it was told.
    entries = await AuditEntry.select().where(AuditEntry.action == "ptz").order_by(AuditEntry.id)
    assert [e["subject"] for e in entries] == [f"camera:{camera}"] * 4
    details = [e["detail"] if isinstance(e["detail"], dict) else json.loads(e["detail"]) for e in entries]
    assert details[0] == {"action": "move", "pan": 0.5, "tilt": -0.25, "zoom": 0.0, "result": "ok"}
    assert details[3] == {"action": "goto_preset", "preset": "2", "result": "ok"}
    assert len({e["actor"] for e in entries}) == 2  # the property guard and the officer


async def test_unknown_preset_is_422_and_malformed_input_400(world, stub):
    camera = await camera_of(world)
    await attach(world, camera, stub.port)
    unknown = await ptz(world, camera, {"action": "goto_preset", "preset": "9"})
    assert unknown.status_code == 422 and unknown.json()["extra"]["code"] == "unknown_preset"
    missing = await ptz(world, camera, {"action": "goto_preset"})
    assert missing.status_code == 422 and missing.json()["extra"]["code"] == "preset_required"
    for body in ({"action": "move", "pan": 1.5}, {"action": "spin"}, {"action": "move", "speed": 1}):
        refused = await ptz(world, camera, body)
        assert refused.status_code == 400 and refused.json()["detail"], (body, refused.text)
    for body in (
        {"host": "http://127.0.0.1/onvif"},
        {"host": "admin:pw@127.0.0.1"},
        {"host": "127.0.0.1", "port": 0},
        {"port": 80},
    ):
        refused = await send(world, "PUT", f"/api/video/cameras/{camera}/onvif", body)
        assert refused.status_code == 400 and refused.json()["detail"], (body, refused.text)
    assert stub.moves() == []


async def test_a_camera_without_onvif_is_409_and_clearing_turns_ptz_off(world, stub):
    camera = await camera_of(world)
    refused = await ptz(world, camera, {"action": "stop"})
    assert refused.status_code == 409 and refused.json()["extra"]["code"] == "camera_without_onvif"
    refused = await send(world, "GET", f"/api/video/cameras/{camera}/ptz/presets")
    assert refused.status_code == 409 and refused.json()["extra"]["code"] == "camera_without_onvif"

    await attach(world, camera, stub.port)
    cleared = await send(world, "PUT", f"/api/video/cameras/{camera}/onvif", {"host": None})
    assert cleared.status_code == 200 and cleared.json()["ptz"] is False
    assert await CameraOnvif.count() == 0
    refused = await ptz(world, camera, {"action": "stop"})
    assert refused.status_code == 409
    assert stub.moves() == []


async def test_wrong_password_a_camera_gone_and_a_camera_silent_are_clear_errors(world, stub):
    camera = await camera_of(world)
    await attach(world, camera, stub.port, password="not-the-password")
    refused = await ptz(world, camera, {"action": "move", "pan": 1})
    assert refused.status_code == 502, refused.text
    assert refused.json()["extra"]["code"] == "camera_auth_failed"
    assert "not-the-password" not in refused.text
    assert stub.moves() == [] and stub.calls  # it was asked, and refused

    # The right password, without typing the address again; then the camera goes away.
    fixed = await send(
        world,
        "PUT",
        f"/api/video/cameras/{camera}/onvif",
        {"host": "127.0.0.1", "port": stub.port, "username": "admin", "password": PASSWORD},
    )
    assert fixed.status_code == 200
    assert (await ptz(world, camera, {"action": "stop"})).status_code == 200
    async with OnvifStub(password=PASSWORD).running() as silent:
        silent.hang = True
        await attach(world, camera, silent.port)
        timed_out = await ptz(world, camera, {"action": "move", "tilt": 1})
        assert timed_out.status_code == 504, timed_out.text
        assert timed_out.json()["extra"]["code"] == "camera_timeout"
    down = await ptz(world, camera, {"action": "move", "tilt": 1})  # the silent one has stopped
    assert down.status_code == 502, down.text
    assert down.json()["extra"]["code"] == "camera_unreachable"
    results = [
        (json.loads(e["detail"]) if isinstance(e["detail"], str) else e["detail"])["result"]
        for e in await AuditEntry.select().where(AuditEntry.action == "ptz").order_by(AuditEntry.id)
    ]
    assert results == ["camera_auth_failed", "ok", "camera_timeout", "camera_unreachable"]


async def test_password_kept_when_omitted_and_never_returned(world, stub):
    camera = await camera_of(world)
    await attach(world, camera, stub.port)
    changed = await send(
        world,
        "PUT",
        f"/api/video/cameras/{camera}/onvif",
        {"host": "127.0.0.1", "port": stub.port, "username": "admin"},
    )
    assert changed.status_code == 200 and changed.json()["password_set"] is True
    assert (await ptz(world, camera, {"action": "stop"})).status_code == 200  # still the right one
    row = await CameraOnvif.select().first()
    assert PASSWORD not in row["password_sealed"]
    assert world.ctx.keys.unseal(row["password_sealed"]) == PASSWORD

    # Nowhere in what the API answers: the camera lists, coverage, the audit trail's entries.
    seen = []
    for role in (Role.PROPERTY, Role.POLICE, Role.DISTRICT_ADMIN):
        for path in (
            f"/api/communities/{world.home}/video/cameras",
            f"/api/communities/{world.home}/video/coverage",
            f"/api/video/cameras/{camera}/ptz/presets",
        ):
            response = await send(world, "GET", path, role=role)
            seen.append(response.text)
    seen.append(changed.text)
    assert not [text for text in seen if PASSWORD in text]
    for entry in await AuditEntry.select():
        assert PASSWORD not in json.dumps(entry, default=str)


@pytest.mark.parametrize(
    ("role", "side", "status"),
    [
        (None, "home", 401),
        (Role.RESIDENT, "home", 403),
        (Role.WARDEN, "home", 403),
        (Role.MAINTENANCE, "home", 403),
        (Role.COMMUNITY_WORKER, "home", 403),
        (Role.PROPERTY, "other", 403),
        (Role.POLICE, "other", 403),
    ],
)
async def test_nobody_else_turns_the_camera_or_learns_its_account(world, stub, role, side, status):
    camera = await camera_of(world)
    await attach(world, camera, stub.port)
    moved = await ptz(world, camera, {"action": "move", "pan": 1}, role, side)
    assert moved.status_code == status, moved.text
    presets = await send(world, "GET", f"/api/video/cameras/{camera}/ptz/presets", role=role, side=side)
    assert presets.status_code == status
    hijack = {"host": "127.0.0.1", "port": 1, "username": "x", "password": "y"}
    changed = await send(world, "PUT", f"/api/video/cameras/{camera}/onvif", hijack, role, side)
    assert changed.status_code == status
    for response in (moved, presets, changed):
        assert PASSWORD not in response.text and "admin" not in response.text
    assert stub.moves() == [] and stub.calls == []  # the camera never heard of them
    row = await CameraOnvif.select().first()
    assert (row["host"], row["port"]) == ("127.0.0.1", stub.port)
