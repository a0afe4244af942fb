"""The "door passes" screen in headless Chromium: a resident's household, a warden's community and its CSV."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import sign_in


def test_a_resident_sees_the_door_they_just_opened(page: Page, live_server):
    sign_in(page, live_server.phone(Role.RESIDENT))
    page.goto("/")
    unit_door = page.locator("[data-testid=door]").filter(has_text="单元门").first
    expect(unit_door).to_contain_text("在线", timeout=15_000)
    unit_door.locator("[data-testid=open-door]").click()
    expect(unit_door.locator("[data-testid=door-opened]")).to_be_visible()
    name = page.locator("[data-testid=signed-in-as]").inner_text()
    page.locator("[data-testid=passes-tile]").click()
    first = page.locator("[data-testid=pass]").first
    expect(first).to_contain_text(name)
    expect(first).to_contain_text("手机开门")
    expect(page.locator("[data-testid=pass][data-resolution=unknown]")).to_have_count(0)  # nobody else's


def test_a_warden_filters_the_community_and_exports_csv(page: Page, live_server, tmp_path: Path):
    sign_in(page, live_server.phone(Role.WARDEN))
    page.goto("/passes")
    expect(page.locator("[data-testid=pass]").first).to_be_visible(timeout=15_000)  # simulated passes
    page.select_option("[data-testid=passes-method]", "card")
    passes = page.locator("[data-testid=pass]")
    expect(passes.filter(has_not_text="刷卡")).to_have_count(0)  # the filtered list replaced the first
    expect(passes.first).to_contain_text("刷卡")
    with page.expect_download() as download:
        page.locator("[data-testid=passes-export]").click()
    saved = tmp_path / "passes.csv"
    download.value.save_as(saved)
    content = saved.read_bytes()
    assert content.startswith("\ufeff".encode())
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("ID 记录 ID,SK_RQSJ 刷卡日期时间") and len(lines) > 1
    assert all(",刷卡,01," in line for line in lines[1:])
