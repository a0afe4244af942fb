"""The PWA's notices in headless Chromium against a live server: staff publish, a resident reads."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import policy_violations, sign_in, watch_policy


def test_property_staff_publish_a_notice_a_resident_reads_and_the_receipt_counts(
    page: Page, browser, live_server
):
    console = watch_policy(page)
    staff = browser.new_context(base_url=live_server.url, locale="zh-CN")
    try:
        desk = staff.new_page()
        sign_in(desk, live_server.phone(Role.PROPERTY), then="/notices/desk")
        desk.goto("/notices/desk")
        desk.fill("[data-testid=notice-title]", "电梯年检通知")
        desk.fill("[data-testid=notice-body-input]", "本周六 9:00-11:00 电梯年检，请走楼梯。")
        desk.click("[data-testid=notice-save]")
        draft = desk.locator("[data-testid=desk-notice]", has_text="电梯年检通知")
        expect(draft).to_have_attribute("data-status", "draft")
        draft.locator("[data-testid=publish]").click()
        expect(draft).to_have_attribute("data-status", "published")

        sign_in(page, live_server.phone(Role.RESIDENT))
        expect(page.locator("[data-testid=notices-unread]")).to_be_visible()
        page.click("[data-testid=notices-tile]")
        item = page.locator("[data-testid=notice]", has_text="电梯年检通知")
        expect(item).to_have_attribute("data-read", "false")
        item.locator("a").click()
        expect(page.locator("[data-testid=notice-body]")).to_contain_text("电梯年检")
        page.goto("/notices")
        expect(item).to_have_attribute("data-read", "true")

        desk.reload()
        published = desk.locator("[data-testid=desk-notice]", has_text="电梯年检通知")
        expect(published.locator("[data-testid=receipts]")).to_contain_text("已读 1 人")
        published.locator("[data-testid=withdraw]").click()
        expect(published).to_have_attribute("data-status", "withdrawn")
    finally:
        staff.close()
    page.reload()
    expect(page.locator("[data-testid=notice]", has_text="电梯年检通知")).to_have_count(0)
    assert policy_violations(page) == [] and console == []


def test_a_community_worker_returns_and_then_approves_a_policy_notice(page: Page, live_server):
    sign_in(page, live_server.phone(Role.COMMUNITY_WORKER), then="/notices/desk")
    page.goto("/notices/desk")
    page.select_option("[data-testid=notice-kind]", "policy")
    page.fill("[data-testid=notice-title]", "垃圾分类新规")
    page.fill("[data-testid=notice-body-input]", "自下月起实行垃圾分类。")
    page.click("[data-testid=notice-save]")
    item = page.locator("[data-testid=desk-notice]", has_text="垃圾分类新规")
    expect(item.locator("[data-testid=publish]")).to_have_count(0)  # review first
    item.locator("[data-testid=submit]").click()
    expect(item).to_have_attribute("data-status", "in_review")
    item.locator("[data-testid=review-comment]").fill("请写明实施日期")
    item.locator("[data-testid=return]").click()
    expect(item).to_have_attribute("data-status", "draft")
    expect(item.locator("[data-testid=review]")).to_contain_text("请写明实施日期")
    item.locator("[data-testid=submit]").click()
    item.locator("[data-testid=approve]").click()
    expect(item).to_have_attribute("data-status", "in_review")  # the police have not approved yet
    expect(item).to_contain_text("社区 ✓ 民警 …")
