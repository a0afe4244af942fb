"""A resident pairs an emergency button with their flat in Chromium, sees its state, and unpairs it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import open_plate, policy_violations, sign_in, watch_policy

SERIAL = "420112001001-sos-2"  # the demo community's unpaired button


def test_a_resident_pairs_and_unpairs_a_button_from_their_flats_plate(page: Page, live_server):
    console = watch_policy(page)
    sign_in(page, live_server.phone(Role.RESIDENT))
    open_plate(page, live_server.plates()[0])  # the resident's own flat
    page.get_by_test_id("pair-button").click()
    form = page.get_by_test_id("pair-form")
    expect(form).to_be_visible()
    items = page.get_by_test_id("button-item")
    expect(items).to_have_count(1)  # the seeded button of this household
    form.locator("#button-serial").fill(SERIAL)
    form.get_by_role("button", name="绑定").click()
    expect(page.locator(".status-area")).to_contain_text("已绑定")
    expect(items).to_have_count(2)
    mine = items.filter(has_text=SERIAL)
    expect(mine).to_contain_text("电量")
    mine.get_by_role("button", name="解除绑定").click()
    expect(page.locator(".status-area")).to_contain_text("已解除绑定")
    expect(items).to_have_count(1)
    assert policy_violations(page) == [] and console == []


def test_a_wrong_serial_is_explained(page: Page, live_server):
    sign_in(page, live_server.phone(Role.WARDEN))
    open_plate(page, live_server.plates()[0])
    page.get_by_test_id("pair-button").click()
    page.locator("#button-serial").fill("no-such-button")
    page.get_by_test_id("pair-form").get_by_role("button", name="绑定").click()
    expect(page.locator(".status-area")).to_contain_text("本小区没有这个编号的一键报警按钮")
