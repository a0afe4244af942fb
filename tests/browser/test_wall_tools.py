"""The wall as the monitoring room's working tool, in Chromium: the PTZ pad on the selected tile
turning a camera that is a real SOAP server (tests/onvif_stub.py), and video inspection (视频巡检)
from the wall, whose snapshot is the frame the tile's live <video> showed (simulated RTSP cameras
→ ffmpeg → HLS), checked as the JPEG the API stores."""

from __future__ import annotations

import io
import sqlite3
import uuid
from datetime import UTC, datetime

from PIL import Image, ImageStat
from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import (
    add_virtual_authenticator,
    enrol_passkey,
    new_officer,
    policy_violations,
    sign_in,
    watch_policy,
)
from tests.browser.test_board import DETECTOR, _intrusion
from tests.browser.test_video_ptz import SET_ONVIF, _is_ptz, camera_id
from tests.browser.test_visitors import _in_a_thread
from tests.onvif_stub import PROFILE, OnvifStub, Received
from tests.simcams import require_engine

ADVANCED = """([selector, from]) => {
  const v = document.querySelector(selector);
  return v && v.dataset.state === "playing" && v.currentTime > from + 1;
}"""
API = """async ([path, opts]) => {
  const { api } = await import("/app/api.js");
  return api(path, opts || {});
}"""
SNAPSHOT = """async (checkId) => {
  const session = await import("/app/session.js");
  const res = await fetch(`/api/video/checks/${checkId}/snapshot`, { headers: { Authorization: `Bearer ${session.accessToken()}` } });
  return { status: res.status, type: res.headers.get("content-type"), bytes: Array.from(new Uint8Array(await res.arrayBuffer())) };
}"""


def new_property_staff(live_server, name: str = "巡检 员") -> str:
    """A home community's property staff of the calling test's own: its inspection rounds are its
    own (one open round per operator), whatever other tests leave open."""
    phone = f"138{uuid.uuid4().int % 10**8:08d}"
    with sqlite3.connect(live_server.database) as db:
        [account] = db.execute(
            "INSERT INTO account (phone, name, role, active, token_version, created_at)"
            " VALUES (?, ?, 'property', 1, 0, ?) RETURNING id",
            (phone, name, datetime.now(UTC).isoformat()),
        ).fetchone()
        db.execute("INSERT INTO staff_scope (account, community) VALUES (?, 1)", (account,))
    return phone


def community_cameras(live_server) -> int:
    with sqlite3.connect(live_server.database) as db:
        [count] = db.execute("SELECT count(*) FROM camera WHERE community = 1").fetchone()
    return count


def settled(page: Page) -> None:
    """The wall's toolbar filled in (its groups loaded), so the tiles stay where the mouse goes."""
    expect(page.get_by_test_id("patrol-group").locator("option")).not_to_have_count(0)


def press_and_release(page: Page, button) -> None:
    """Hold the button with the keyboard (the pad's other way in; the pointer is tested on the pad
    in test_video_ptz.py): on a wall whose videos are starting, a tile can still change size between
    moving the mouse over the button and pressing it, and the press then lands beside it."""
    button.focus()
    with page.expect_response(_is_ptz) as moved:
        page.keyboard.down("Enter")
    assert moved.value.status == 200
    with page.expect_response(_is_ptz) as stopped:
        page.keyboard.up("Enter")
    assert stopped.value.status == 200


def test_the_selected_tile_gets_the_ptz_pad_of_an_onvif_camera(page: Page, browser, live_server):
    parking = camera_id(live_server, "cam-parking")
    north = camera_id(live_server, "cam-north")
    with OnvifStub(password="wall-pass").in_thread() as stub:
        sign_in(page, live_server.phone(Role.PROPERTY), then="/video")
        body = {"host": "127.0.0.1", "port": stub.port, "username": "admin", "password": "wall-pass"}
        assert page.evaluate(SET_ONVIF, [parking, body])["ptz"] is True
        try:
            page.goto("/wall")
            settled(page)
            expect(page.get_by_test_id("wall-inspection-start")).to_be_visible()  # the toolbar is complete
            page.get_by_test_id("split-4").click()
            tiles = page.get_by_test_id("wall-tile")
            expect(tiles).to_have_count(4)
            tiles.nth(0).get_by_test_id("tile-camera").select_option(str(parking))
            tiles.nth(1).get_by_test_id("tile-camera").select_option(str(north))
            expect(page.get_by_test_id("ptz-pad")).to_have_count(0)  # nothing selected yet

            tiles.nth(0).get_by_test_id("tile-video").click()
            pad = tiles.nth(0).get_by_test_id("ptz-pad")
            expect(pad).to_have_attribute("data-camera", str(parking))
            expect(page.get_by_test_id("ptz-pad")).to_have_count(1)
            press_and_release(page, pad.get_by_test_id("ptz-left"))
            assert stub.moves() == [
                Received("ContinuousMove", PROFILE, pan=-0.5, tilt=0.0, zoom=0.0, user="admin"),
                Received("Stop", PROFILE, user="admin"),
            ]
            expect(pad.get_by_test_id("error")).to_have_count(0)
            expect(tiles.nth(0)).to_have_attribute("data-selected", "true")  # the pad's clicks keep it

            # Another tile selected: the pad goes; that camera has no ONVIF, so none comes.
            tiles.nth(1).get_by_test_id("tile-video").click()
            expect(tiles.nth(1)).to_have_attribute("data-selected", "true")
            expect(page.get_by_test_id("ptz-pad")).to_have_count(0)

            # Back to the PTZ camera, then the tile changes camera: the pad goes with it.
            tiles.nth(0).get_by_test_id("tile-video").click()
            expect(tiles.nth(0).get_by_test_id("ptz-pad")).to_have_count(1)
            tiles.nth(0).get_by_test_id("tile-camera").select_option(str(north))
            expect(page.get_by_test_id("ptz-pad")).to_have_count(0)
            tiles.nth(0).get_by_test_id("tile-video").click()
            expect(page.get_by_test_id("ptz-pad")).to_have_count(0)

            # The community police turn cameras too (control_ptz), in a passkey session.
            officer = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
            add_virtual_authenticator(officer)
            sign_in(officer, new_officer(live_server, "云台 民警"))
            enrol_passkey(officer)
            officer.goto(f"/wall?camera={parking}")
            settled(officer)
            tile = officer.get_by_test_id("wall-tile")
            expect(tile).to_have_count(1)
            tile.get_by_test_id("tile-video").click()
            police_pad = tile.get_by_test_id("ptz-pad")
            expect(police_pad).to_be_visible()
            press_and_release(officer, police_pad.get_by_test_id("ptz-up"))
            assert stub.moves()[2:] == [
                Received("ContinuousMove", PROFILE, pan=0.0, tilt=0.5, zoom=0.0, user="admin"),
                Received("Stop", PROFILE, user="admin"),
            ]
            expect(officer.get_by_test_id("wall-inspection")).to_have_count(0)  # inspection is property's
            officer.context.close()
        finally:
            page.evaluate(SET_ONVIF, [parking, {"host": None}])


def test_nobody_but_property_and_police_gets_the_wall(page: Page, live_server):
    for role in (Role.COMMUNITY_WORKER, Role.RESIDENT):
        sign_in(page, live_server.phone(role))
        page.goto("/wall")
        expect(page.get_by_test_id("error")).to_be_visible()
        expect(page.get_by_test_id("wall-tile")).to_have_count(0)
        expect(page.get_by_test_id("ptz-pad")).to_have_count(0)
        page.context.clear_cookies()


def test_an_inspection_round_on_the_wall_records_the_live_picture(page: Page, live_server):
    """The acceptance "an inspection round records a snapshot": the snapshot is the tile's frame."""
    require_engine()
    gate = camera_id(live_server, "cam-gate1")
    unit = camera_id(live_server, "cam-unit1")
    total = community_cameras(live_server)
    console = watch_policy(page)  # drawing the video on a canvas and sending the blob pass the CSP
    sign_in(page, new_property_staff(live_server))
    page.goto(f"/wall?camera={gate}")
    tile = page.get_by_test_id("wall-tile")
    expect(tile).to_have_attribute("data-camera-id", str(gate))
    video = "[data-testid=tile-video]"
    page.wait_for_selector(f"{video}[data-state=playing]", timeout=40_000)
    start = page.evaluate(f"document.querySelector('{video}').currentTime")
    page.wait_for_function(ADVANCED, arg=[video, start], timeout=30_000)

    expect(tile.get_by_test_id("verdict-normal")).to_have_count(0)  # no round, no verdicts
    page.get_by_test_id("wall-inspection-start").click()
    progress = page.get_by_test_id("inspection-progress")
    expect(progress).to_have_attribute("data-checked", "0")
    expect(progress).to_have_attribute("data-total", str(total))
    verdicts = tile.get_by_test_id("tile-inspect").get_by_role("button")
    expect(verdicts).to_have_text(["正常", "无信号", "模糊", "遮挡", "移位"])
    todo = page.get_by_test_id("inspection-todo")
    expect(todo).to_have_count(total)

    tile.get_by_test_id("verdict-normal").click()
    checked = tile.get_by_test_id("tile-checked")
    expect(checked).to_have_attribute("data-verdict", "normal")
    expect(checked).to_have_attribute("data-snapshot", "true")
    expect(progress).to_have_attribute("data-checked", "1")
    expect(todo).to_have_count(total - 1)
    expect(page.locator(f"[data-testid=inspection-todo][data-camera='{gate}']")).to_have_count(0)

    # The stored artefact: the JPEG the API serves is a frame of the 320×240 test picture (a white
    # ball and the white clock over black), not a blank or black canvas.
    rounds = page.evaluate(API, ["/api/communities/1/video/inspections"])
    [mine] = [r for r in rounds["rounds"] if r["status"] == "open" and r["operator"] == "巡检 员"]
    [check] = mine["checks"]
    assert (check["camera_id"], check["verdict"], check["has_snapshot"]) == (gate, "normal", True)
    got = page.evaluate(SNAPSHOT, check["id"])
    assert (got["status"], got["type"]) == (200, "image/jpeg")
    image = Image.open(io.BytesIO(bytes(got["bytes"])))
    assert image.format == "JPEG" and image.size == (320, 240)
    grey = image.convert("L")
    low, high = grey.getextrema()
    assert low < 40 and high > 200, (low, high)
    assert ImageStat.Stat(grey).stddev[0] > 10
    bright = sum(grey.histogram()[200:])
    assert 200 < bright < 320 * 240 // 2, bright  # the ball (and the clock) lit, the rest dark
    assert len(image.getcolors(320 * 240)) > 50
    assert not policy_violations(page) and not console

    # A camera with no picture: the verdict is recorded, without a snapshot.
    with sqlite3.connect(live_server.database) as db:
        [(device, stream)] = db.execute(
            "SELECT d.id, d.stream_url FROM device d JOIN camera c ON c.device = d.id WHERE c.id = ?", (unit,)
        ).fetchall()
        db.execute("UPDATE device SET stream_url = '' WHERE id = ?", (device,))
    try:
        page.locator(f"[data-testid=inspection-todo][data-camera='{unit}']").click()  # onto the tile
        expect(tile).to_have_attribute("data-camera-id", str(unit))
        expect(page.locator(f"{video}[data-state=error]")).to_have_count(1, timeout=30_000)
        tile.get_by_test_id("verdict-no_signal").click()
        expect(tile.get_by_test_id("tile-checked")).to_have_attribute("data-snapshot", "false")
        expect(progress).to_have_attribute("data-checked", "2")
    finally:
        with sqlite3.connect(live_server.database) as db:
            db.execute("UPDATE device SET stream_url = ? WHERE id = ?", (stream, device))

    page.get_by_test_id("wall-inspection-end").click()
    expect(page.get_by_test_id("wall-inspection-start")).to_be_visible()
    expect(page.get_by_test_id("tile-inspect").get_by_role("button")).to_have_count(0)
    ended = page.evaluate(API, [f"/api/video/inspections/{mine['id']}"])
    assert ended["status"] == "ended" and ended["ended_at"]
    assert [(c["camera_id"], c["verdict"], c["has_snapshot"]) for c in ended["checks"]] == [
        (gate, "normal", True),
        (unit, "no_signal", False),
    ]


CLOSE_ALARM = """async (id) => {
  const { api } = await import("/app/api.js");
  const step = (state, note = "") => api(`/api/alarms/${id}/steps`, { body: { state, note } });
  const { alarm } = await api(`/api/alarms/${id}`);
  if (alarm.state === "new") await step("acknowledged");
  return step("false_alarm", "监控墙测试");
}"""


def open_alarms_of(live_server, code: str) -> list[int]:
    with sqlite3.connect(live_server.database) as db:
        return [
            row[0]
            for row in db.execute(
                "SELECT a.id FROM alarm a JOIN device d ON d.id = a.device"
                " WHERE d.community = 1 AND d.code LIKE ? AND a.open_slot IS NOT NULL",
                (f"%-{code}",),
            )
        ]


def test_a_new_alarm_on_the_wall_offers_its_camera_full_size(page: Page, live_server):
    south = camera_id(live_server, "cam-south")
    sign_in(page, new_property_staff(live_server, "值班 保安"))
    for alarm in open_alarms_of(live_server, DETECTOR):  # a repeat would only count on an open one
        page.evaluate(CLOSE_ALARM, alarm)
    page.goto("/wall")
    page.get_by_test_id("split-4").click()
    expect(page.get_by_test_id("wall-tile")).to_have_count(4)
    expect(page.get_by_test_id("wall-alarms")).to_have_attribute("data-live", "open")  # the live stream
    expect(page.get_by_test_id("wall-alarm")).to_have_count(0)

    _in_a_thread(_intrusion(live_server))  # the south fence detector's own signed MQTT event
    try:
        banner = page.get_by_test_id("wall-alarm")
        expect(banner).to_have_count(1, timeout=20_000)
        assert [int(banner.get_attribute("data-alarm"))] == open_alarms_of(live_server, DETECTOR)
        expect(banner).to_have_attribute("data-camera", str(south))
        expect(banner).to_contain_text("周界入侵")
        banner.get_by_test_id("wall-alarm-open").click()
        expect(banner).to_have_count(0)
        tile = page.get_by_test_id("wall-tile")
        expect(tile).to_have_count(1)
        expect(tile).to_have_attribute("data-camera-id", str(south))
        expect(tile).to_have_attribute("data-selected", "true")
    finally:
        for alarm in open_alarms_of(live_server, DETECTOR):
            page.evaluate(CLOSE_ALARM, alarm)
