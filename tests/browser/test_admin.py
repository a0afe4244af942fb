"""Administration in headless Chromium against a live server: a district admin creates a staff account
and a door grant, disables an account, and provisions a device whose secret is shown once; a policy
notice is approved by both reviewers (a community worker, then a police officer the admin created) and
only then reaches a resident's feed; property staff replace a doorplate and save a sheet page."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3

import pytest
from playwright.sync_api import Browser, Page, expect

from roles import Role
from tests.browser.conftest import (
    add_virtual_authenticator,
    enrol_passkey,
    policy_violations,
    sign_in,
    watch_policy,
)

SECRET = re.compile(r"^[0-9a-f]{64}$")


def new_page(browser: Browser, live_server) -> Page:
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


@pytest.fixture(scope="module")
def admin(browser, live_server):
    """The district admin in a passkey session, shared by this module's tests (admins use the phone
    code only to reach their first passkey, so there is one enrolment)."""
    page = new_page(browser, live_server)
    add_virtual_authenticator(page)
    sign_in(page, live_server.phone(Role.DISTRICT_ADMIN))
    enrol_passkey(page)
    yield page
    page.context.close()


def query(live_server, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(live_server.database) as db:
        return db.execute(sql, args).fetchall()


def create_staff(admin: Page, name: str, phone: str, role: str) -> None:
    admin.goto("/")
    admin.click("a[href='/admin']")  # reached from the home screen
    admin.fill("[data-testid=staff-name]", name)
    admin.fill("[data-testid=staff-phone]", phone)
    admin.select_option("[data-testid=staff-role]", role)
    admin.click("[data-testid=staff-create]")
    expect(admin.locator("[data-testid=staff-item]", has_text=name)).to_have_attribute("data-active", "true")


def test_an_admin_creates_a_staff_account_and_a_grant_and_disables_an_account(admin: Page, live_server):
    console = watch_policy(admin)
    create_staff(admin, "新协管员小王", "13611115555", "warden")
    admin.select_option("[data-testid=grant-account]", label="新协管员小王 · 协管员")
    admin.fill("[data-testid=grant-reason]", "消防检查")
    admin.click("[data-testid=grant-create]")
    expect(admin.locator("[data-testid=grant-created]")).to_contain_text("已授权")
    expect(admin.locator("[data-testid=grant-item]", has_text="新协管员小王")).to_contain_text("消防检查")
    ((account, active),) = query(live_server, "SELECT id, active FROM account WHERE phone = ?", "13611115555")
    assert query(live_server, "SELECT community FROM staff_scope WHERE account = ?", account) == [(1,)]
    assert query(live_server, "SELECT community, reason FROM access_grant WHERE account = ?", account) == [
        (1, "消防检查")
    ]
    admin.locator("[data-testid=grant-item]", has_text="新协管员小王").locator(
        "[data-testid=end-grant]"
    ).click()
    expect(admin.locator("[data-testid=grant-item]", has_text="新协管员小王")).to_have_count(0)
    ((ended,),) = query(live_server, "SELECT valid_until FROM access_grant WHERE account = ?", account)
    assert dt.datetime.fromisoformat(ended) <= dt.datetime.now(dt.UTC)  # ended now, the row kept

    created = admin.locator("[data-testid=staff-item]", has_text="新协管员小王")
    created.locator("[data-testid=disable-staff]").click()
    expect(created).to_have_attribute("data-active", "false")
    assert query(live_server, "SELECT active FROM account WHERE id = ?", account) == [(0,)]
    assert policy_violations(admin) == [] and console == []


def test_a_provisioned_devices_secret_is_shown_once(admin: Page, live_server):
    admin.goto("/admin")
    admin.fill("[data-testid=device-code]", "lobby-screen-2")
    admin.select_option("[data-testid=device-kind]", "screen")
    admin.fill("[data-testid=device-name]", "大堂公告屏")
    admin.click("[data-testid=device-provision]")
    secret = admin.locator("[data-testid=secret-value]").inner_text()
    assert SECRET.match(secret)
    device = admin.locator("[data-testid=device-item][data-code=lobby-screen-2]")
    expect(device).to_contain_text("从未上报")

    admin.click("[data-testid=secret-dismiss]")
    expect(admin.locator("[data-testid=device-secret]")).to_have_count(0)
    admin.reload()
    expect(device).to_be_visible()
    assert secret not in admin.content()  # nowhere to be seen again

    admin.once("dialog", lambda dialog: dialog.accept())  # "the old secret stops working"
    device.locator("[data-testid=rotate-secret]").click()
    rotated = admin.locator("[data-testid=secret-value]").inner_text()
    assert SECRET.match(rotated) and rotated != secret


def test_a_policy_notice_reaches_residents_only_after_both_reviews(admin: Page, browser, live_server):
    create_staff(admin, "民警小李", "13611116666", "police")
    worker, officer, resident = (new_page(browser, live_server) for _ in range(3))
    try:
        sign_in(worker, live_server.phone(Role.COMMUNITY_WORKER), then="/notices/desk")
        worker.goto("/notices/desk")
        worker.select_option("[data-testid=notice-kind]", "security")
        worker.fill("[data-testid=notice-title]", "夜间巡逻加强")
        worker.fill("[data-testid=notice-body-input]", "近期入室盗窃高发，请关好门窗。")
        worker.click("[data-testid=notice-save]")
        mine = worker.locator("[data-testid=desk-notice]", has_text="夜间巡逻加强")
        mine.locator("[data-testid=submit]").click()
        mine.locator("[data-testid=approve]").click()  # the community's side
        expect(mine).to_have_attribute("data-status", "in_review")

        add_virtual_authenticator(officer)
        sign_in(officer, "13611116666")
        enrol_passkey(officer)  # the new officer's first sign-in
        officer.goto("/notices/desk")
        theirs = officer.locator("[data-testid=desk-notice]", has_text="夜间巡逻加强")
        theirs.locator("[data-testid=approve]").click()  # the police side
        expect(theirs).to_have_attribute("data-status", "approved")

        sign_in(resident, live_server.phone(Role.RESIDENT), then="/notices")
        resident.goto("/notices")
        expect(resident.locator("[data-testid=notice]", has_text="夜间巡逻加强")).to_have_count(0)

        worker.reload()
        mine.locator("[data-testid=publish]").click()
        expect(mine).to_have_attribute("data-status", "published")
        resident.reload()
        expect(resident.locator("[data-testid=notice]", has_text="夜间巡逻加强")).to_be_visible()
    finally:
        for page in (worker, officer, resident):
            page.context.close()


def test_property_staff_replace_a_plate_and_print_a_sheet_page(page: Page, live_server):
    sign_in(page, live_server.phone(Role.PROPERTY, "other"), then="/admin")
    page.goto("/admin")
    old = live_server.plates(community="other")[-1]
    page.fill("[data-testid=plate-token]", f"{live_server.url}/d/{old}")
    page.once("dialog", lambda dialog: dialog.accept())  # "the old plate stops working at once"
    page.click("[data-testid=plate-replace]")
    expect(page.locator("[data-testid=plate-replaced]")).to_contain_text(f"{live_server.url}/d/")
    assert old not in live_server.plates(community="other")
    new = live_server.plates(community="other")[-1]
    expect(page.locator("[data-testid=plate-replaced]")).to_contain_text(new)

    page.click("[data-testid=sheet-download]")
    with page.expect_download() as saved:
        page.click("[data-testid=sheet-link]")
    assert saved.value.suggested_filename == "plates-2-1.svg"
    assert "<svg" in open(saved.value.path(), encoding="utf-8").read()
