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
