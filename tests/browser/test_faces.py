"""Face enrolment in Chromium: a resident accepts the consent, takes a photo with the front camera
(Chromium's fake camera plays a real face, tests/photos.py), sees the enrolment with its photo, and
deletes it; the stored row comes and goes with it."""

from __future__ import annotations

import base64
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import aiomqtt
import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from backend.faces.engine import Engine
from backend.faces.sealed import seal
from backend.keys import Keys
from backend.settings import from_env
from device_bridge import protocol
from device_bridge.acl import device_password
from device_bridge.protocol import Channel
from device_bridge.transport import client_options
from roles import Role
from tests import photos
from tests.browser.conftest import add_virtual_authenticator, chromium, enrol_passkey, new_officer, sign_in
from tests.browser.test_visitors import _in_a_thread

FRAME = (640, 480)


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory, face_pack):
    """A Y4M clip of one real face, centred on a grey 640×480 frame: what the fake camera shows."""
    frame = photos.framed(photos.people(Engine(face_pack))["astronaut-0"], *FRAME)
    width, height = FRAME
    # Front cameras' previews are mirrored by the page, not the stream: the stream is as the world is.
    yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()
    path = tmp_path_factory.mktemp("camera") / "face.y4m"
    path.write_bytes(
        f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + (b"FRAME\n" + yuv) * 10
    )
    return path


@pytest.fixture(scope="module")
def browser(camera_file) -> Iterator[Browser]:
    """Chromium with a fake front camera playing ``camera_file`` and camera permission granted."""
    fake_camera = (
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_file}",
    )
    with chromium(*fake_camera) as browser:
        yield browser


def enrolments(live_server) -> list[tuple]:
    with sqlite3.connect(live_server.database) as db:
        return db.execute("SELECT person, consent_method, consent_version FROM face_enrolment").fetchall()


def test_a_resident_consents_enrols_their_face_with_the_camera_and_deletes_it(page: Page, live_server):
    page.context.grant_permissions(["camera"])
    sign_in(page, live_server.phone(Role.RESIDENT), then="/homes")
    section = page.get_by_test_id("faces")
    expect(section).to_contain_text("本户还没有录入人脸")
    section.get_by_test_id("face-enrol-open").click()
    expect(section.get_by_test_id("face-consent-text")).to_contain_text("仅用于本小区人脸闸机开门")

    section.get_by_test_id("face-camera").click()  # no consent yet
    expect(section).to_contain_text("请先阅读并勾选同意")
    section.get_by_test_id("face-consent").check()
    section.get_by_test_id("face-camera").click()
    video = section.get_by_test_id("face-video")
    expect(video).to_have_js_property("readyState", 4)  # frames are playing (HAVE_ENOUGH_DATA)
    section.get_by_test_id("face-shoot").click()

    face = section.get_by_test_id("face")
    expect(face).to_have_count(1, timeout=30_000)  # the first enrolment loads the models
    expect(section).to_contain_text("已录入，闸机即可识别")
    expect(face).to_contain_text("本人录入")
    expect(face.get_by_test_id("face-photo")).to_be_visible()
    [(person, method, version)] = enrolments(live_server)
    assert method == "self" and version

    face.get_by_test_id("face-delete").click()
    expect(section.get_by_test_id("face")).to_have_count(0)
    assert enrolments(live_server) == []


def test_a_photo_without_a_face_is_refused_with_a_reason(page: Page, live_server, tmp_path):
    blank = tmp_path / "wall.jpg"
    blank.write_bytes(cv2.imencode(".jpg", np.full((480, 640, 3), 200, np.uint8))[1].tobytes())
    sign_in(page, live_server.phone(Role.RESIDENT), then="/homes")
    section = page.get_by_test_id("faces")
    # The screen has settled before the form is used: nothing re-renders it under the test.
    expect(section).to_contain_text("本户还没有录入人脸")
    section.get_by_test_id("face-enrol-open").click()
    section.get_by_test_id("face-consent").check()
    section.get_by_test_id("face-file").set_input_files(str(blank))
    expect(section.get_by_test_id("error")).to_contain_text("照片中没有找到人脸", timeout=30_000)
    assert enrolments(live_server) == []


async def _capture_at_the_gate(live_server, image: bytes) -> None:
    """The home community's face gate sends ``image``, signed with its own secret and MQTT account."""
    settings = from_env(live_server.env)
    with sqlite3.connect(live_server.database) as db:
        code, sealed, community = db.execute(
            "SELECT d.code, d.secret_sealed, c.code FROM device d JOIN community c ON c.id = d.community "
            "WHERE c.id = 1 AND d.kind = 'face_gate' ORDER BY d.id LIMIT 1"
        ).fetchone()
    secret = Keys(settings.secret()).unseal(sealed).encode()
    name = protocol.topic(settings.mqtt_prefix, community, code, Channel.EVENT)
    data = {"image": base64.b64encode(image).decode()}
    payload = protocol.encode(secret, name, uuid.uuid4().hex, "face", data)
    async with aiomqtt.Client(
        **client_options(settings.broker.as_user(code, device_password(secret)))
    ) as client:
        await client.publish(name, payload, qos=1)


def test_a_watched_face_at_the_gate_shows_its_capture_on_the_police_officers_alarm(
    page: Page, live_server, face_pack
):
    engine = Engine(face_pack)
    face = photos.people(engine)["gauss-0"]
    _, embedding = engine.enrolment(face)
    keys = Keys(from_env(live_server.env).secret())
    with sqlite3.connect(live_server.database) as db:  # as POST /api/communities/1/face-watch stores it
        db.execute(
            "INSERT INTO face_watch (community, name, id_type, id_number_sealed, note, pack, embedding_sealed,"
            " photo_sealed, created_by, created_at) VALUES (1, '李某', '', '', '协查', ?, ?, ?, 0, ?)",
            (
                engine.pack.name,
                seal(keys, embedding.tobytes()),
                seal(keys, b""),
                datetime.now(UTC).isoformat(),
            ),
        )
        db.execute(
            "INSERT INTO face_gallery (community, version) VALUES (1, 1) "
            "ON CONFLICT (community) DO UPDATE SET version = face_gallery.version + 1"
        )
    small = cv2.resize(photos.blurred(face), None, fx=0.5, fy=0.5)
    capture = cv2.imencode(".jpg", small)[1].tobytes()
    _in_a_thread(_capture_at_the_gate(live_server, capture))
    alarm = None
    for _ in range(200):  # the bridge decides within a few seconds (the pack may be built first)
        with sqlite3.connect(live_server.database) as db:
            alarm = db.execute("SELECT id FROM alarm WHERE type = 'watched_person'").fetchone()
        if alarm:
            break
        time.sleep(0.1)
    assert alarm, "no watched_person alarm was raised"

    add_virtual_authenticator(page)
    sign_in(page, new_officer(live_server, "布控 民警"))
    enrol_passkey(page)
    page.goto(f"/alarms/{alarm[0]}")
    expect(page.get_by_test_id("alarm")).to_contain_text("布控人员")
    expect(page.get_by_test_id("alarm")).to_contain_text("李某")
    shown = page.get_by_test_id("alarm-capture")
    expect(shown).to_be_visible()
    # The picture on the page is the gate's capture itself, not a placeholder.
    assert shown.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [small.shape[1], small.shape[0]]
