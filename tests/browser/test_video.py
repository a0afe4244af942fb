"""视频巡检 in the PWA: the property's operator sees the coverage gaps, records a camera as blocked
with a snapshot and ends the round; the community police read the round and its snapshot."""

from __future__ import annotations

import io

from PIL import Image
from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import add_virtual_authenticator, enrol_passkey, new_officer, sign_in


def _snapshot() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), "green").save(out, format="PNG")
    return out.getvalue()


def test_an_operator_inspects_a_camera_with_a_snapshot_and_the_police_see_it(
    page: Page, browser, live_server
):
    sign_in(page, live_server.phone(Role.PROPERTY))
    page.get_by_role("link", name="视频监控").click()
    home = page.get_by_test_id("video-community").first
    expect(home.locator("[data-testid=video-gap][data-area=main_passage]")).to_have_count(1)
    expect(home.locator("[data-testid=video-gap][data-area=car_park]")).to_have_count(0)

    home.get_by_test_id("start-inspection").click()
    form = home.get_by_test_id("check-camera").first
    camera = form.get_attribute("data-camera")
    form.locator("select[name=verdict]").select_option("blocked")
    form.locator("input[name=note]").fill("树枝遮挡镜头")
    form.locator("input[name=snapshot]").set_input_files(
        files=[{"name": "snap.png", "mimeType": "image/png", "buffer": _snapshot()}]
    )
    form.locator("button[type=submit]").click()
    expect(home.locator(f"[data-testid=check-camera][data-camera='{camera}']")).to_have_count(0)
    checked = home.locator("[data-testid=inspection-check][data-verdict=blocked]")
    expect(checked).to_contain_text("遮挡")
    expect(checked.get_by_test_id("show-snapshot")).to_be_visible()
    home.get_by_test_id("end-inspection").click()
    ended = home.locator("[data-testid=inspection][data-status=ended]").filter(has_text="树枝遮挡镜头")
    expect(ended).to_have_count(1)  # other tests' rounds (the wall's) may be listed too
    expect(home.get_by_test_id("start-inspection")).to_be_visible()

    police = browser.new_context(base_url=live_server.url, locale="zh-CN")
    try:
        officer = police.new_page()
        add_virtual_authenticator(officer)
        sign_in(officer, new_officer(live_server, "视频 民警"))
        enrol_passkey(officer)  # police act only in a passkey session
        officer.goto("/video")
        record = officer.locator("[data-testid=inspection][data-status=ended]").filter(
            has_text="树枝遮挡镜头"
        )
        expect(record).to_contain_text("树枝遮挡镜头")
        expect(officer.get_by_test_id("start-inspection")).to_have_count(0)  # police read, never inspect
        record.get_by_test_id("show-snapshot").click()
        picture = record.get_by_test_id("snapshot")
        expect(picture).to_be_visible()
        officer.wait_for_function("document.querySelector('[data-testid=snapshot]').naturalWidth > 0")
        assert picture.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [80, 60]
    finally:
        police.close()
