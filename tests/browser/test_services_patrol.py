"""The PWA's services portal and patrols in headless Chromium against a live server."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3

from PIL import Image
from playwright.sync_api import Page, expect

from backend.patrol.rules import LOCAL
from roles import Role
from tests.browser.conftest import sign_in


def shift_on_now(live_server) -> tuple[int, list[str]]:
    """A shift on the seeded route whose round is on now (the seed's is at night); and its tags in order."""
    now = dt.datetime.now(LOCAL)
    minutes = now.hour * 60 + now.minute
    with sqlite3.connect(live_server.database) as db:
        route, community = db.execute("SELECT id, community FROM patrol_route WHERE community = 1").fetchone()
        cursor = db.execute(
            "INSERT INTO patrol_shift (route, community, name, starts, ends, every, tolerance)"
            " VALUES (?, ?, '浏览器测试班', ?, ?, 0, 240)",
            (route, community, (minutes - 5) % 1440, (minutes + 180) % 1440),
        )
        tags = db.execute(
            "SELECT t.token FROM checkpoint_tag t JOIN checkpoint c ON c.id = t.checkpoint"
            " WHERE c.route = ? AND t.revoked_at IS NULL ORDER BY c.position",
            (route,),
        ).fetchall()
    return cursor.lastrowid, [tag for (tag,) in tags]


def scan_tag(page: Page, url: str) -> None:
    """The camera simulated by the scanner's manual entry: the tag's URL, as its code carries it."""
    page.click("[data-testid=current-run] a[href='/scanner']")
    page.fill("#plate-link", url)
    page.press("#plate-link", "Enter")


def test_a_guard_completes_a_run_by_scanning_each_checkpoints_tag_url(page: Page, live_server):
    shift, tags = shift_on_now(live_server)
    page.context.grant_permissions(["geolocation"], origin=live_server.url)
    page.context.set_geolocation({"latitude": 30.645, "longitude": 114.205})
    sign_in(page, live_server.phone(Role.PROPERTY), then="/patrol")
    page.goto("/patrol")
    page.click(f"[data-testid=start-run][data-shift-id='{shift}']")
    expect(page.locator("[data-testid=current-run]")).to_be_visible()
    scan_tag(page, f"{live_server.url}/p/{tags[0]}")
    expect(page.locator("[data-testid=checkpoint-recorded]")).to_contain_text("1号门岗亭")
    with sqlite3.connect(live_server.database) as db:
        recorded = db.execute(
            "SELECT s.latitude, s.longitude FROM patrol_scan s JOIN checkpoint_tag t ON t.checkpoint = s.checkpoint"
            " WHERE t.token = ?",
            (tags[0],),
        ).fetchall()
    assert recorded == [(30.645, 114.205)]
    for done, tag in enumerate(tags[1:], start=2):
        scan_tag(page, f"{live_server.url}/p/{tag}")
        expect(page.locator("[data-testid=run-progress]")).to_contain_text(f"{done}/5")
    page.click("[data-testid=end-run]")
    expect(page.locator("[data-testid=patrol-run][data-status=closed]").first).to_contain_text("5/5")
    expect(page.locator("[data-testid=patrol-flag]")).to_have_count(0)


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), "orange").save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_resident_files_a_request_with_a_photo_that_staff_close_and_the_resident_rates(
    page: Page, browser, live_server
):
    sign_in(page, live_server.phone(Role.RESIDENT), then="/services")
    page.goto("/services")
    expect(page.locator("[data-testid=service-tile]").first).to_contain_text("物业报修")
    page.select_option("[data-testid=request-category]", "repairs")
    page.fill("[data-testid=request-text]", "卫生间下水道堵了")
    page.set_input_files(
        "[data-testid=request-photo]",
        files=[{"name": "pipe.png", "mimeType": "image/png", "buffer": photo()}],
    )
    page.click("[data-testid=request-submit]")
    mine = page.locator("[data-testid=service-request]", has_text="卫生间下水道堵了")
    expect(mine).to_have_attribute("data-status", "open")
    request_id = mine.get_attribute("data-request-id")

    staff = browser.new_context(base_url=live_server.url, locale="zh-CN")
    try:
        staff_page = staff.new_page()
        sign_in(staff_page, live_server.phone(Role.PROPERTY), then="/service-queue")
        staff_page.goto("/service-queue")
        item = staff_page.locator(f"[data-testid=service-request][data-request-id='{request_id}']")
        item.locator("[data-testid=show-photo]").click()
        expect(item.locator("img.request-photo")).to_be_visible()
        item.locator("[data-testid=step-take]").click()
        expect(item).to_have_attribute("data-status", "taken")
        item.locator("[data-testid=step-note-text]").fill("已疏通")
        item.locator("[data-testid=step-close]").click()
        expect(item).to_have_attribute("data-status", "closed")
    finally:
        staff.close()

    page.reload()
    mine = page.locator(f"[data-testid=service-request][data-request-id='{request_id}']")
    expect(mine).to_have_attribute("data-status", "closed")
    expect(mine.locator("[data-testid=unseen]")).to_contain_text("2")
    mine.locator("[data-testid=rate]").click()
    expect(mine.locator("[data-testid=rating]")).to_contain_text("★★★★★")
