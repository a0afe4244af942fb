"""A residency verified by mistake, in Chromium: police correct it with a reason from the scan view,
staff read its history (issue #13, finding 3), and neither screen breaks the content security policy."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import (
    add_virtual_authenticator,
    enrol_passkey,
    open_plate,
    policy_violations,
    sign_in,
    watch_policy,
)


@pytest.fixture(scope="module")
def officer(browser, live_server):
    """The other community's officer in a passkey session, shared by this module's tests: police sign
    in by code only until their first passkey (the home officer's belongs to test_pwa.py)."""
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    add_virtual_authenticator(page)
    sign_in(page, live_server.phone(Role.POLICE, "other"))
    enrol_passkey(page)  # police act only in a passkey session
    yield page
    context.close()


def test_police_correct_a_category_and_see_it_in_the_history(officer: Page, live_server):
    page = officer
    console = watch_policy(page)
    open_plate(page, live_server.plates(community="other")[0])
    resident = page.get_by_test_id("resident").filter(has=page.get_by_test_id("correct")).first
    name = resident.get_by_test_id("resident-name").inner_text()
    resident.get_by_test_id("correct").click()
    form = resident.get_by_test_id("correct-form")
    form.get_by_test_id("submit-correction").click()
    expect(form.get_by_test_id("error")).to_have_text("请填写原因，原因会记入档案。")
    form.get_by_test_id("correct-reason").fill("核实时误选类别")
    form.get_by_test_id("submit-correction").click()  # the category is unchanged: the API refuses
    expect(form.get_by_test_id("error")).to_have_text("请修改人员类别或解除错误关联。")

    category = "floating" if form.get_by_test_id("correct-category").input_value() != "floating" else "lodger"
    form.get_by_test_id("correct-category").select_option(category)
    form.get_by_test_id("submit-correction").click()
    expect(page.locator(".status-area")).to_contain_text(f"已更正：{name}")
    resident = page.get_by_test_id("resident").filter(has_text=name)
    expect(resident.get_by_test_id("category")).to_have_text({"floating": "流动", "lodger": "寄住"}[category])
    expect(resident.get_by_test_id("status")).to_have_text("已核实")  # a correction, not a deregistration

    resident.get_by_test_id("history").click()
    correction = resident.locator("[data-testid=history-entry][data-action=correct]")
    expect(correction).to_contain_text("更正")
    expect(correction).to_contain_text("核实时误选类别")
    expect(correction).to_contain_text("→")
    assert policy_violations(page) == [] and console == []


def test_a_warden_reads_the_history_but_cannot_correct(page: Page, live_server):
    console = watch_policy(page)
    sign_in(page, live_server.phone(Role.WARDEN))
    open_plate(page, live_server.plates()[0])
    verified = page.get_by_test_id("resident").filter(
        has=page.get_by_test_id("status").filter(has_text="已核实")
    )
    expect(verified.first).to_be_visible()
    expect(page.get_by_test_id("correct")).to_have_count(0)
    expect(verified.get_by_test_id("history")).to_have_count(verified.count())
    verified.first.get_by_test_id("history").click()
    expect(verified.first.locator("[data-testid=history-entry][data-action=register]")).to_contain_text(
        "登记"
    )
    assert policy_violations(page) == [] and console == []


def test_police_see_a_flats_past_residents_and_their_key_persons(officer: Page, live_server):
    page = officer
    open_plate(page, live_server.plates(community="other")[0])
    page.get_by_test_id("household-history").click()
    past = page.get_by_test_id("past-resident")
    expect(past.first).to_be_visible()
    assert past.count() >= page.get_by_test_id("resident").count()
    page.goto("/")
    page.get_by_test_id("key-persons").click()
    entries = page.get_by_test_id("key-person-entry")
    expect(entries.first).to_be_visible()  # the seed flags some
    expect(entries.first.locator(".badge-key")).not_to_be_empty()
