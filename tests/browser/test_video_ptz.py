"""In Chromium: the alarm pop-up's "view camera" link to the wall (for those who may watch video only),
and the PTZ pad (pwa/ptz.js) turning a camera that is a real SOAP server (tests/onvif_stub.py)."""

from __future__ import annotations

import sqlite3

from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import sign_in
from tests.onvif_stub import PROFILE, OnvifStub, Received


def camera_id(live_server, code: str) -> int:
    with sqlite3.connect(live_server.database) as db:
        [found] = db.execute(
            "SELECT c.id FROM camera c JOIN device d ON d.id = c.device WHERE c.community = 1 AND d.code LIKE ?",
            (f"%-{code}",),
        ).fetchone()
    return found


def seeded_alarm(live_server) -> int:
    with sqlite3.connect(live_server.database) as db:
        [alarm] = db.execute("SELECT id FROM alarm WHERE community = 1 ORDER BY id LIMIT 1").fetchone()
    return alarm


def test_the_alarm_popup_links_to_the_zones_camera_on_the_wall(page: Page, live_server):
    north = camera_id(live_server, "cam-north")
    sign_in(page, live_server.phone(Role.PROPERTY), then="/board")
    seeded = page.get_by_test_id("alarm").filter(has_text="北侧围墙")
    seeded.get_by_role("button", name="详情").click()
    popup = page.get_by_test_id("alarm-popup")
    link = popup.get_by_test_id("view-camera")
    expect(link).to_have_text("查看监控")
    expect(link).to_have_attribute("href", f"/wall?camera={north}")

    page.goto(f"/alarms/{seeded_alarm(live_server)}")
    expect(page.get_by_test_id("alarm")).to_contain_text("北侧围墙")
    expect(page.get_by_test_id("view-camera")).to_have_attribute("href", f"/wall?camera={north}")


def test_no_camera_link_for_those_who_may_not_watch_video(page: Page, browser, live_server):
    alarm = seeded_alarm(live_server)
    sign_in(page, live_server.phone(Role.WARDEN), then=f"/alarms/{alarm}")
    expect(page.get_by_test_id("alarm")).to_contain_text("北侧围墙")  # the warden sees the alarm…
    expect(page.get_by_test_id("view-camera")).to_have_count(0)  # …but no camera
    page.goto("/board")
    page.get_by_test_id("alarm").filter(has_text="北侧围墙").get_by_role("button", name="详情").click()
    expect(page.get_by_test_id("alarm-popup")).to_be_visible()
    expect(page.get_by_test_id("view-camera")).to_have_count(0)

    resident = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    sign_in(resident, live_server.phone(Role.RESIDENT), then=f"/alarms/{alarm}")
    expect(resident.get_by_test_id("alarm-screen")).to_contain_text("负责处置")
    expect(resident.get_by_test_id("view-camera")).to_have_count(0)
    resident.context.close()


SET_ONVIF = """async ([id, body]) => {
  const { api } = await import("/app/api.js");
  return api(`/api/video/cameras/${id}/onvif`, { method: "PUT", body });
}"""
MOUNT_PAD = """async (id) => {
  const { ptzPad } = await import("/app/ptz.js");
  document.getElementById("app").replaceChildren(ptzPad(id));
}"""


def _is_ptz(response) -> bool:
    return response.url.endswith("/ptz") and response.request.method == "POST"


def test_the_ptz_pad_moves_while_pressed_stops_on_release_and_goes_to_presets(page: Page, live_server):
    camera = camera_id(live_server, "cam-parking")
    with OnvifStub(password="pad-pass").in_thread() as stub:
        sign_in(page, live_server.phone(Role.PROPERTY), then="/video")
        expect(page.get_by_test_id("open-wall")).to_be_visible()  # the screen is up: MOUNT_PAD replaces it
        body = {"host": "127.0.0.1", "port": stub.port, "username": "admin", "password": "pad-pass"}
        assert page.evaluate(SET_ONVIF, [camera, body])["ptz"] is True
        try:
            page.evaluate(MOUNT_PAD, camera)
            pad = page.get_by_test_id("ptz-pad")
            expect(pad).to_have_attribute("data-camera", str(camera))
            presets = pad.get_by_test_id("ptz-presets")
            expect(presets.locator("option")).to_have_count(3)  # the placeholder and the camera's two

            right = pad.get_by_test_id("ptz-right")
            right.hover()
            with page.expect_response(_is_ptz) as moved:
                page.mouse.down()
            assert moved.value.status == 200
            with page.expect_response(_is_ptz) as stopped:
                page.mouse.up()
            assert stopped.value.status == 200
            zoom = pad.get_by_test_id("ptz-zoom_in")
            zoom.hover()
            with page.expect_response(_is_ptz):
                page.mouse.down()
            with page.expect_response(_is_ptz):
                page.mouse.up()
            with page.expect_response(_is_ptz) as went:
                presets.select_option("2")
            assert went.value.status == 200
            assert stub.moves() == [
                Received("ContinuousMove", PROFILE, pan=0.5, tilt=0.0, zoom=0.0, user="admin"),
                Received("Stop", PROFILE, user="admin"),
                Received("ContinuousMove", PROFILE, pan=0.0, tilt=0.0, zoom=0.5, user="admin"),
                Received("Stop", PROFILE, user="admin"),
                Received("GotoPreset", PROFILE, preset="2", user="admin"),
            ]
            expect(pad.get_by_test_id("error")).to_have_count(0)
        finally:
            page.evaluate(SET_ONVIF, [camera, {"host": None}])
    # Without ONVIF the pad says so instead of failing silently.
    page.evaluate(MOUNT_PAD, camera)
    expect(page.get_by_test_id("ptz-pad").get_by_test_id("error")).to_contain_text("ONVIF")
