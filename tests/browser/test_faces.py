"""Face enrolment in Chromium: a resident accepts the consent, takes a photo with the front camera
(Chromium's fake camera plays a real face, tests/photos.py), sees the enrolment with its photo, and
deletes it; the stored row comes and goes with it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from backend.faces.engine import Engine
from roles import Role
from tests import photos
from tests.browser.conftest import chromium, sign_in

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
    section.get_by_test_id("face-enrol-open").click()
    section.get_by_test_id("face-consent").check()
    section.get_by_test_id("face-file").set_input_files(str(blank))
    expect(section.get_by_test_id("error")).to_contain_text("照片中没有找到人脸", timeout=30_000)
    assert enrolments(live_server) == []
