"""The PWA in headless Chromium against a live server: sign-in, scan views, registration, passkeys."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import DEMO_CODE, add_virtual_authenticator, enrol_passkey, open_plate, sign_in

FULL_ID = re.compile(r"^\d{17}[\dX]$")


def viewer(page: Page) -> str:
    return page.get_attribute("[data-testid=scan-view]", "data-viewer")


def test_the_app_shell_installs(page: Page, live_server):
    page.goto("/")
    manifest = page.evaluate("fetch('/manifest.webmanifest').then(r => r.json())")
    assert manifest["lang"] == "zh-CN" and manifest["display"] == "standalone"
    registered = page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    assert registered is True
    assert page.locator("html").get_attribute("lang") == "zh-CN"


def test_sign_in_by_code(page: Page, live_server):
    sign_in(page, live_server.phone(Role.WARDEN))
    expect(page.locator("[data-testid=signed-in-as]")).to_contain_text("王芳")


def test_anonymous_scan_offers_registration(page: Page, live_server):
    open_plate(page, live_server.plates()[0])
    assert viewer(page) == "anonymous"
    expect(page.locator("[data-testid=resident]")).to_have_count(0)
    expect(page.locator("[data-testid=self-register]")).to_be_visible()


def test_resident_sees_own_household(page: Page, live_server):
    token = live_server.plates()[0]
    sign_in(page, live_server.phone(Role.RESIDENT), then=f"/d/{token}")
    open_plate(page, token)
    assert viewer(page) == "resident"
    assert page.locator("[data-testid=resident]").count() >= 1
    # Beside masked ID numbers: an age band, never a birth date.
    expect(page.locator("[data-testid=age-band]").first).to_have_text(re.compile(r"^\d+(-\d+|\+)$"))
    expect(page.locator("[data-testid=resident]").first).not_to_contain_text("出生日期")
    expect(page.locator("[data-testid=key-person]")).to_have_count(0)  # the seed flags one here


def test_warden_sees_masked_ids_and_no_key_flags(page: Page, live_server):
    # The seed flags a member of this first flat as 重点; the police test sees that flag here.
    token = live_server.plates()[0]
    sign_in(page, live_server.phone(Role.WARDEN))
    open_plate(page, token)
    assert viewer(page) == "staff"
    ids = page.locator("[data-testid=id-number]").all_inner_texts()
    assert ids and all("*" in text for text in ids)
    expect(page.locator("[data-testid=key-person]")).to_have_count(0)


def test_police_enrol_a_passkey_then_see_full_ids_and_sign_in_with_it(page: Page, live_server):
    add_virtual_authenticator(page)
    sign_in(page, live_server.phone(Role.POLICE))
    enrol_passkey(page)
    expect(page.locator("[data-testid=remove-passkey]")).to_have_count(1)  # listed in the passkey session
    token = live_server.plates()[0]
    open_plate(page, token)
    assert viewer(page) == "police"
    ids = [text.strip() for text in page.locator("[data-testid=id-number]").all_inner_texts()]
    assert ids and all(FULL_ID.match(text) for text in ids)
    # The key person the warden's and the resident's views of this flat must not show.
    expect(page.locator("[data-testid=key-person]").first).to_have_text("重点人口")
    # Sign out; the phone code alone no longer signs the officer in: the passkey does.
    page.goto("/me")
    page.click("[data-testid=sign-out]")
    page.goto("/signin")
    page.fill("#phone", live_server.phone(Role.POLICE))
    page.click("[data-testid=send-code]")
    page.fill("#code", DEMO_CODE)
    page.click("[data-testid=sign-in]")
    expect(page.locator(".status-area")).to_contain_text("请使用通行密钥登录")
    expect(page.locator("[data-testid=signed-in-as]")).to_have_count(0)
    page.click("[data-testid=passkey-sign-in]")
    expect(page.locator("[data-testid=signed-in-as]")).to_contain_text("陈军")


def test_the_refresh_token_lives_only_in_an_httponly_cookie(page: Page, live_server):
    with page.expect_response("**/api/auth/token") as signed:
        sign_in(page, live_server.phone(Role.PROPERTY))
    body = signed.value.json()
    assert "refresh_token" not in body
    refresh = {c["name"]: c for c in page.context.cookies()}["anju_refresh"]
    assert refresh["httpOnly"] and refresh["secure"]
    assert refresh["sameSite"] == "Strict" and refresh["path"] == "/api/auth"
    stored = page.evaluate("JSON.stringify({...localStorage})")
    assert refresh["value"] not in stored and body["access_token"] not in stored
    assert "anju_refresh" not in page.evaluate("document.cookie")
    # A new page load has no token in memory: the cookie alone restores the session.
    page.goto("/me")
    expect(page.locator("[data-testid=account-name]")).to_contain_text(body["account"]["name"])


def test_a_refresh_the_server_cannot_answer_keeps_the_session(page: Page, live_server):
    sign_in(page, live_server.phone(Role.PROPERTY))
    unavailable = {"status": 503, "content_type": "application/json", "body": '{"detail": "down"}'}
    # On the context: the service worker makes the page's requests, and a page route would miss them.
    page.context.route("**/api/auth/refresh", lambda route: route.fulfill(**unavailable))
    page.goto("/me")  # a fresh page must refresh: both tries meet a server that cannot answer
    expect(page.get_by_test_id("error")).to_have_text("网络连接失败，请检查网络后重试。")
    assert page.url.endswith("/me") and page.evaluate("localStorage.getItem('anju.account')")
    page.context.unroute("**/api/auth/refresh")
    page.reload()  # the server is back: the same refresh cookie still restores the session
    expect(page.get_by_test_id("account-name")).to_be_visible()


def test_a_refresh_the_server_refuses_ends_the_session(page: Page, live_server):
    sign_in(page, live_server.phone(Role.PROPERTY))
    page.context.clear_cookies()  # no refresh cookie: the server answers 401
    page.goto("/me")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fme$"))
    assert page.evaluate("localStorage.getItem('anju.account')") is None


def test_self_registration_then_warden_verifies(browser, live_server):
    visitor = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    token = live_server.plates()[5]
    visitor.goto(f"/d/{token}/register")
    form = visitor.locator("form[data-testid=registration-form]")
    form.locator("[name=name]").fill("周子涵")
    form.locator("[name=id_number]").fill("11010519491231002Y")
    form.locator("[name=phone]").fill("13787654321")
    visitor.click("[data-testid=submit-registration]")
    expect(visitor.locator("[data-testid=error-id_number]")).to_be_visible()  # bad check digit, caught inline
    form.locator("[name=id_number]").fill("11010519491231002X")
    form.locator("[name=hukou_region]").select_option("110000")
    form.locator("[name=relation]").select_option("6")
    form.locator("[name=reason]").select_option("01")
    visitor.click("[data-testid=submit-registration]")
    expect(visitor.locator("[data-testid=registration-done]")).to_be_visible()
    visitor.context.close()

    warden = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    sign_in(warden, live_server.phone(Role.WARDEN))
    warden.goto("/queue")
    item = warden.locator("[data-testid=queue-item]", has_text="周子涵")
    expect(item).to_contain_text("登记人申报")  # the category is the registrant's proposal
    item.locator("[data-testid=confirm-category]").select_option("lodger")
    item.locator("[data-testid=verify]").click()
    expect(warden.locator("[data-testid=queue-item]", has_text="周子涵")).to_have_count(0)
    open_plate(warden, token)
    resident = warden.locator("[data-testid=resident]", has_text="周子涵")
    expect(resident.locator("[data-testid=category]")).to_have_text("寄住")
    warden.context.close()


def test_unknown_plate_gets_a_clear_page(page: Page, live_server):
    response = page.goto("/d/AAAAAAAAAAAAAAAA")
    assert response.status == 404
    expect(page.locator("[data-testid=plate-not-found]")).to_contain_text("门牌无效")


def test_a_resident_opens_their_door_with_one_tap(page: Page, live_server):
    """The demo server runs the bridge and the simulated devices on the embedded broker."""
    sign_in(page, live_server.phone(Role.RESIDENT))
    page.goto("/")
    doors = page.locator("[data-testid=door]")
    expect(doors.first).to_be_visible()
    unit_door = doors.filter(has_text="单元门").first
    expect(unit_door).to_contain_text("在线", timeout=15_000)  # the simulated intercom announced itself
    unit_door.locator("[data-testid=open-door]").click()
    expect(unit_door.locator("[data-testid=door-opened]")).to_be_visible()
