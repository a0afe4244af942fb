"""The management-centre board in Chromium: a perimeter detector's signed intrusion event goes through
the embedded broker and the bridge, appears live on a police officer's board with its zone
highlighted and its camera's live view in the pop-up, and acknowledging it there changes its state."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

import aiomqtt
from playwright.sync_api import Page, expect

from backend.keys import Keys
from backend.settings import from_env
from device_bridge import protocol
from device_bridge.acl import device_password
from device_bridge.protocol import Channel
from device_bridge.transport import client_options
from roles import Role
from tests.browser.conftest import (
    add_virtual_authenticator,
    enrol_passkey,
    new_officer,
    policy_violations,
    sign_in,
    watch_policy,
)
from tests.browser.test_visitors import _in_a_thread

DETECTOR = "pz-south"  # the seed's south fence detector: no alarm open on it


def _zone_and_camera(live_server, code: str = "south_fence") -> tuple[int, str]:
    with sqlite3.connect(live_server.database) as db:
        zone, cameras = db.execute(
            "SELECT id, cameras FROM perimeter_zone WHERE community = 1 AND code = ?", (code,)
        ).fetchone()
        [camera] = db.execute(f"SELECT name FROM device WHERE id IN ({cameras.strip('[]')})").fetchone()
    return zone, camera


async def _intrusion(live_server) -> None:
    """The detector's own signed `alarm` event, published with its own MQTT account."""
    settings = from_env(live_server.env)
    with sqlite3.connect(live_server.database) as db:
        code, sealed, community = db.execute(
            "SELECT d.code, d.secret_sealed, c.code FROM device d JOIN community c ON c.id = d.community "
            "WHERE c.id = 1 AND d.code LIKE ?",
            (f"%-{DETECTOR}",),
        ).fetchone()
    secret = Keys(settings.secret()).unseal(sealed).encode()
    name = protocol.topic(settings.mqtt_prefix, community, code, Channel.EVENT)
    payload = protocol.encode(secret, name, uuid.uuid4().hex, "alarm", {"kind": "intrusion"})
    broker = settings.broker.as_user(code, device_password(secret))
    async with aiomqtt.Client(**client_options(broker)) as client, asyncio.timeout(10):
        await client.publish(name, payload, qos=1)


def test_a_new_alarm_appears_live_on_a_police_board_and_is_acknowledged_there(page: Page, live_server):
    console = watch_policy(page)
    page.set_viewport_size({"width": 1366, "height": 900})  # the management centre's desktop screen
    zone, camera = _zone_and_camera(live_server)
    stream = "https://video.example.cn/hls/south.m3u8"
    with sqlite3.connect(live_server.database) as db:  # as PUT /api/devices/{id}/stream-url stores it
        db.execute("UPDATE device SET stream_url = ? WHERE name = ?", (stream, camera))
    add_virtual_authenticator(page)
    sign_in(page, new_officer(live_server, "值班 民警"))
    enrol_passkey(page)  # police act only in a passkey session
    page.goto("/")
    page.get_by_role("link", name="指挥中心看板").click()
    expect(page.get_by_test_id("live-state")).to_have_text("实时报警已连接")
    zone_shape = page.locator(f"[data-testid=map-zone][data-zone='{zone}']")
    expect(zone_shape).to_be_visible()
    expect(zone_shape).not_to_have_class("map-zone map-alarm map-alarm-new")
    expect(page.get_by_test_id("map-building")).to_have_count(5)
    alarms = page.get_by_test_id("alarm")
    expect(alarms.filter(has_text="北侧围墙")).to_have_count(1)  # the seed's open alarm: the list is loaded
    before = alarms.count()

    _in_a_thread(_intrusion(live_server))

    expect(alarms).to_have_count(before + 1)
    raised = alarms.filter(has_text="南侧围墙").filter(has_text="新报警")
    expect(raised).to_have_count(1)
    expect(zone_shape).to_have_class("map-zone map-alarm map-alarm-new")
    popup = page.get_by_test_id("alarm-popup")
    expect(popup).to_be_visible()
    expect(popup).to_contain_text("周界入侵")
    expect(popup.get_by_test_id("alarm-cameras")).to_contain_text(camera)
    expect(popup.get_by_test_id("camera-stream")).to_have_attribute("href", stream)

    raised.get_by_test_id("step-acknowledged").click()
    acknowledged = alarms.filter(has_text="南侧围墙").filter(has_text="已确认")
    expect(acknowledged).to_have_count(1)
    expect(acknowledged.get_by_test_id("step-dispatched")).to_be_visible()
    expect(zone_shape).to_have_class("map-zone map-alarm")  # still open, no longer new
    with sqlite3.connect(live_server.database) as db:
        [state] = db.execute(
            "SELECT state FROM alarm WHERE zone = ? ORDER BY id DESC LIMIT 1", (zone,)
        ).fetchone()
    assert state == "acknowledged"
    assert policy_violations(page) == [] and console == []


def test_closing_an_alarm_needs_a_note_and_clears_its_zone(page: Page, live_server):
    zone, _ = _zone_and_camera(live_server, "north_fence")
    sign_in(page, live_server.phone(Role.PROPERTY), then="/board")
    seeded = page.get_by_test_id("alarm").filter(has_text="北侧围墙")
    zone_shape = page.locator(f"[data-testid=map-zone][data-zone='{zone}']")
    expect(zone_shape).to_have_class("map-zone map-alarm map-alarm-new")  # its detector's open alarm
    seeded.get_by_test_id("step-acknowledged").click()  # the seed's alarm, still new
    expect(seeded).to_contain_text("已确认")
    seeded.get_by_test_id("step-resolved").click()
    expect(page.locator(".status-area")).to_contain_text("请填写处理结果")
    seeded.locator(".board-note").fill("巡逻确认为野猫触发")
    seeded.get_by_test_id("step-resolved").click()
    expect(page.get_by_test_id("alarm").filter(has_text="巡逻确认为野猫触发")).to_contain_text("已处置")
    expect(zone_shape).to_have_class("map-zone")


def test_a_resident_has_no_board(page: Page, live_server):
    sign_in(page, live_server.phone(Role.RESIDENT))
    expect(page.get_by_role("link", name="指挥中心看板")).to_have_count(0)
    page.goto("/board")
    expect(page.get_by_test_id("error")).to_be_visible()


def test_an_alarms_push_link_opens_it_for_staff_and_tells_family_who_handles_it(
    page: Page, browser, live_server
):
    """Where the push notification's URL (backend/alarms/raising.py push_message) leads."""
    with sqlite3.connect(live_server.database) as db:
        [alarm] = db.execute("SELECT id FROM alarm WHERE community = 1 ORDER BY id LIMIT 1").fetchone()
    sign_in(page, live_server.phone(Role.WARDEN), then=f"/alarms/{alarm}")
    shown = page.get_by_test_id("alarm")
    expect(shown).to_contain_text("北侧围墙")
    page.get_by_role("link", name="到指挥中心看板处理").click()
    expect(page.get_by_test_id("board")).to_be_visible()

    family = browser.new_context(base_url=live_server.url, locale="zh-CN")
    try:
        phone = family.new_page()
        sign_in(phone, live_server.phone(Role.RESIDENT), then=f"/alarms/{alarm}")
        expect(phone.get_by_test_id("alarm-screen")).to_contain_text("社区民警和网格员已收到这条报警")
        expect(phone.get_by_test_id("alarm")).to_have_count(0)
    finally:
        family.close()
