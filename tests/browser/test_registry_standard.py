"""The 一标三实 details in Chromium: a visitor's registration carries them, a warden completes them
while verifying, and the registry stores what both chose."""

from __future__ import annotations

import sqlite3

from playwright.sync_api import expect

from roles import Role
from tests.browser.conftest import (
    add_virtual_authenticator,
    enrol_passkey,
    new_officer,
    policy_violations,
    sign_in,
    watch_policy,
)


def test_registration_and_verification_fill_the_ybss_details(browser, live_server):
    visitor = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    token = live_server.plates()[7]
    visitor.goto(f"/d/{token}/register")
    form = visitor.locator("form[data-testid=registration-form]")
    form.locator("[name=name]").fill("钱一标")
    # An ID number of its own: test_pwa.py's registrant must not turn out the same person.
    form.locator("[name=id_number]").fill("420102198503120040")
    form.locator("[name=phone]").fill("13787650001")
    form.locator("[name=relation]").select_option("6")
    form.locator("[name=reason]").select_option("01")
    form.locator("[name=occupation]").select_option("205")
    form.locator("[name=education]").select_option("21")
    form.locator("[name=native_place]").select_option("420100")
    form.locator("[name=lodging]").select_option("05")
    form.locator("[name=service_place]").fill("医" * 34)  # 102 bytes: over the standard's 100
    visitor.click("[data-testid=submit-registration]")
    expect(visitor.locator("[data-testid=error-service_place]")).to_be_visible()
    form.locator("[name=service_place]").fill("武汉市第一医院")
    visitor.click("[data-testid=submit-registration]")
    expect(visitor.locator("[data-testid=registration-done]")).to_be_visible()
    visitor.context.close()

    warden = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    sign_in(warden, live_server.phone(Role.WARDEN))
    warden.goto("/queue")
    item = warden.locator("[data-testid=queue-item]", has_text="钱一标")
    item.locator("details.standard-fields summary").click()
    item.locator("[data-testid=standard-marital_status]").select_option("20")
    item.locator("[data-testid=verify]").click()
    expect(warden.locator("[data-testid=queue-item]", has_text="钱一标")).to_have_count(0)
    warden.context.close()

    with sqlite3.connect(live_server.database) as db:
        person = db.execute(
            "SELECT p.occupation, p.education, p.marital_status, p.native_place, p.service_place, r.lodging, r.status "
            "FROM person p JOIN residency r ON r.person = p.id WHERE p.name = ?",
            ("钱一标",),
        ).fetchone()
    assert person == ("205", "21", "20", "420100", "武汉市第一医院", "05", "verified")


def test_property_registers_an_organisation_and_the_police_verify_it(browser, live_server):
    staff = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    console = watch_policy(staff)
    sign_in(staff, live_server.phone(Role.PROPERTY))
    staff.locator("a[href='/organisations']").click()
    staff.fill("#org-name", "浏览器便利店")
    staff.select_option("#org-kind", "individual")
    staff.fill("#org-phone", "027-88881234")
    staff.click("[data-testid=organisation-add]")
    added = staff.locator("[data-testid=organisation]", has_text="浏览器便利店")
    expect(added).to_have_attribute("data-status", "pending")
    expect(added).to_contain_text("个体工商户")
    assert not console and not policy_violations(staff)
    staff.context.close()

    officer = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    add_virtual_authenticator(officer)
    sign_in(officer, new_officer(live_server, "单位 民警"))
    enrol_passkey(officer)
    officer.goto("/organisations")
    pending = officer.locator("[data-testid=organisation]", has_text="浏览器便利店")
    pending.locator("[data-testid=organisation-verify]").click()
    expect(officer.locator("[data-testid=organisation]", has_text="浏览器便利店")).to_have_attribute(
        "data-status", "verified"
    )
    officer.context.close()


def test_property_staff_fill_a_buildings_details_until_nothing_is_missing(browser, live_server):
    staff = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    console = watch_policy(staff)
    sign_in(staff, live_server.phone(Role.PROPERTY))
    staff.locator("a[href='/buildings']").click()
    building = staff.locator("[data-testid=building]").first
    expect(building).to_have_attribute("data-complete", "true")  # the seed fills every field
    form = staff.locator("[data-testid=building-form]")
    # The agent left: cleared, the building lacks them.
    building.locator("[data-testid=building-edit]").click()
    for field in ("#b-agent-name", "#b-agent-id-number", "#b-agent-phone"):
        form.locator(field).fill("")
    form.locator("#b-agent-id-type").select_option("")
    form.locator("[data-testid=building-save]").click()
    expect(form).to_have_count(0)
    expect(building).to_have_attribute("data-complete", "false")
    expect(building.locator("[data-testid=building-missing]")).to_contain_text("委托代理人姓名")
    # The new agent, with a mistyped ID number first.
    building.locator("[data-testid=building-edit]").click()
    form.locator("#b-floors-above").fill("18")
    form.locator("#b-built-on").fill("2015-09-30")
    form.locator("#b-agent-name").fill("李经理")
    form.locator("#b-agent-id-type").select_option("111")
    form.locator("#b-agent-id-number").fill("110105194912310021")  # a wrong check digit
    form.locator("#b-agent-phone").fill("13800001234")
    form.locator("[data-testid=building-save]").click()
    expect(form.locator("[role=alert]").first).to_be_visible()
    form.locator("#b-agent-id-number").fill("11010519491231002X")
    form.locator("[data-testid=building-save]").click()
    expect(form).to_have_count(0)
    expect(building).to_have_attribute("data-complete", "true")
    assert not console and not policy_violations(staff)
    staff.context.close()

    with sqlite3.connect(live_server.database) as db:
        row = db.execute(
            "SELECT agent_name, agent_id_type, agent_id_number_sealed, floors_above, built_on FROM building ORDER BY id"
        ).fetchone()
    assert row[:2] == ("李经理", "111") and row[3] == 18 and str(row[4]).startswith("2015-09-30")
    assert row[2] and "11010519491231002X" not in row[2]  # sealed
