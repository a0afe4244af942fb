"""The monitoring-room wall in Chromium: live video of a simulated RTSP camera through ffmpeg → HLS
→ hls.js, the split and the timed group patrol (分组轮巡); residents never see it."""

from __future__ import annotations

import sqlite3

import pytest
from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import policy_violations, sign_in, watch_policy
from tests.simcams import require_engine

ADVANCED = """([selector, from]) => {
  const v = document.querySelector(selector);
  return v && v.dataset.state === "playing" && v.currentTime > from + 1;
}"""


@pytest.fixture(autouse=True)
def engine():
    require_engine()


def home_cameras(live_server) -> list[tuple[int, str]]:
    with sqlite3.connect(live_server.database) as db:
        return db.execute(
            "SELECT c.id, d.name FROM camera c JOIN device d ON d.id = c.device WHERE c.community = 1 ORDER BY c.id"
        ).fetchall()


def test_the_wall_plays_a_camera_whose_picture_advances(page: Page, live_server):
    console = watch_policy(page)
    [(camera, name), *_] = home_cameras(live_server)
    sign_in(page, live_server.phone(Role.PROPERTY))
    page.goto("/video")
    page.get_by_test_id("open-wall").click()
    expect(page.get_by_test_id("wall")).to_be_visible()

    page.goto(f"/wall?camera={camera}")  # as the alarm pop-up links to it
    tiles = page.get_by_test_id("wall-tile")
    expect(tiles).to_have_count(1)
    expect(tiles.first).to_have_attribute("data-camera-id", str(camera))
    expect(tiles.first).to_contain_text(name)
    video = "[data-testid=tile-video]"
    page.wait_for_selector(f"{video}[data-state=playing]", timeout=40_000)
    start = page.evaluate(f"document.querySelector('{video}').currentTime")
    page.wait_for_function(ADVANCED, arg=[video, start], timeout=30_000)
    assert not policy_violations(page) and not console

    page.get_by_test_id("split-4").click()
    expect(page.get_by_test_id("wall-tile")).to_have_count(4)


def test_a_group_is_patrolled_page_by_page_stopping_the_streams_it_leaves(page: Page, live_server):
    cameras = home_cameras(live_server)
    first, second = cameras[2][0], cameras[3][0]
    requested: list[str] = []
    page.on("request", lambda r: "/live/" in r.url and requested.append(r.url))
    sign_in(page, live_server.phone(Role.PROPERTY))
    page.goto("/wall")
    form = page.get_by_test_id("group-form")
    form.get_by_test_id("group-name").fill("巡逻测试")
    form.get_by_test_id("group-dwell").fill("4")
    boxes = form.get_by_test_id("group-camera")
    boxes.nth(2).check()
    boxes.nth(3).check()
    form.get_by_test_id("group-save").click()
    group = page.locator("[data-testid=group]", has_text="巡逻测试")
    expect(group).to_have_count(1)
    group_id = group.get_attribute("data-group")

    page.get_by_test_id("split-1").click()
    page.get_by_test_id("patrol-group").select_option(group_id)
    page.get_by_test_id("patrol-start").click()
    tile = page.get_by_test_id("wall-tile")
    label = page.get_by_test_id("patrol-page")
    expect(label).to_have_attribute("data-page", "1")
    expect(tile).to_have_attribute("data-camera-id", str(first))
    page.wait_for_selector("[data-testid=tile-video][data-state=playing]", timeout=40_000)

    expect(label).to_have_attribute("data-page", "2", timeout=30_000)  # after the group's dwell
    expect(tile).to_have_attribute("data-camera-id", str(second))
    page.wait_for_function(
        f"() => performance.getEntriesByType('resource').some(e => e.name.includes('/cameras/{second}/live/seg'))",
        timeout=40_000,
    )
    left = sum(f"/cameras/{first}/live/" in url for url in requested)
    seen = sum(f"/cameras/{second}/live/" in url for url in requested)
    page.wait_for_function(  # the second camera goes on fetching…
        f"() => performance.getEntriesByType('resource').filter(e => e.name.includes('/cameras/{second}/live/')).length > {seen + 3}",
        timeout=40_000,
    )
    assert sum(f"/cameras/{first}/live/" in url for url in requested) == left  # …the first is let go

    expect(label).to_have_attribute("data-page", "1", timeout=30_000)  # and round again
    page.get_by_test_id("patrol-stop").click()
    expect(label).not_to_have_attribute("data-page", "1")

    group.get_by_test_id("group-delete").click()
    expect(page.locator("[data-testid=group]", has_text="巡逻测试")).to_have_count(0)


def test_residents_and_wardens_never_see_the_wall(page: Page, live_server):
    for role in (Role.RESIDENT, Role.WARDEN):
        sign_in(page, live_server.phone(role))
        page.goto("/wall")
        expect(page.get_by_test_id("error")).to_be_visible()
        expect(page.get_by_test_id("wall-tile")).to_have_count(0)
        page.context.clear_cookies()
