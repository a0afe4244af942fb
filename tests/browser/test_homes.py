"""A resident's "my home" in the PWA: reached from the home screen, not only by scanning their plate."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import sign_in


def test_a_resident_opens_their_household_from_the_home_screen(page: Page, live_server):
    sign_in(page, live_server.phone(Role.RESIDENT))
    page.goto("/")
    page.get_by_test_id("my-homes").click()
    home = page.get_by_test_id("my-home")
    expect(home).to_have_count(1)
    expect(home).to_have_attribute("data-status", "verified")
    expect(home).to_contain_text("已核实")
    home.get_by_test_id("open-household").click()
    expect(page.get_by_test_id("scan-view")).to_have_attribute("data-viewer", "resident")
    assert page.url.endswith(f"/d/{live_server.plates()[0]}")
    expect(page.get_by_test_id("resident").first).to_be_visible()
    expect(page.get_by_test_id("self-register")).to_have_count(0)  # they live here already


def test_a_resident_registers_a_vehicle_from_my_home(page: Page, live_server):
    sign_in(page, live_server.phone(Role.RESIDENT))
    page.goto("/homes")
    page.get_by_test_id("open-vehicles").click()
    expect(page.get_by_test_id("vehicle-list")).to_contain_text("还没有登记的车辆")
    page.fill("#vehicle-plate", "鄂A1234")
    page.get_by_test_id("register-vehicle").click()
    expect(page.locator(".screen")).to_contain_text("车牌号格式不正确")
    page.fill("#vehicle-plate", "鄂ad12345")
    page.get_by_test_id("register-vehicle").click()  # a new-energy plate with 小型汽车
    expect(page.locator(".screen")).to_contain_text("号牌种类与车牌不符")
    page.select_option("#vehicle-kind", "52")
    page.get_by_test_id("register-vehicle").click()
    vehicle = page.get_by_test_id("vehicle-item")
    expect(vehicle).to_contain_text("鄂AD12345")
    expect(vehicle).to_contain_text("小型新能源汽车")
    vehicle.get_by_test_id("revoke-vehicle").click()
    expect(page.get_by_test_id("vehicle-item")).to_have_count(0)
