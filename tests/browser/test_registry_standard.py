"""The 一标三实 details in Chromium: a visitor's registration carries them, a warden completes them
while verifying, and the registry stores what both chose."""

from __future__ import annotations

import sqlite3

from playwright.sync_api import expect

from roles import Role
from tests.browser.conftest import sign_in


def test_registration_and_verification_fill_the_ybss_details(browser, live_server):
    visitor = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    token = live_server.plates()[7]
    visitor.goto(f"/d/{token}/register")
    form = visitor.locator("form[data-testid=registration-form]")
    form.locator("[name=name]").fill("钱一标")
    form.locator("[name=id_number]").fill("11010519491231002X")
    form.locator("[name=phone]").fill("13787650001")
    form.locator("[name=hukou_region]").select_option("110000")
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
