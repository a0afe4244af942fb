"""The district view in Chromium: a district admin sees every community's score, drills down to one,
reads the items with their evidence, enters a safety item and downloads the score sheet; property
staff read their community's sheet without entering items or seeing the uplink."""

from __future__ import annotations

import re
import sqlite3
import uuid
from datetime import UTC, datetime

import pypdfium2 as pdfium
from playwright.sync_api import expect

from roles import Role
from tests.browser.conftest import (
    add_virtual_authenticator,
    enrol_passkey,
    policy_violations,
    sign_in,
    watch_policy,
)


def new_district_admin(live_server) -> str:
    """An admin of the seeded district of this test's own: the seeded admin's passkey is test_admin.py's."""
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    with sqlite3.connect(live_server.database) as db:
        [account] = db.execute(
            "INSERT INTO account (phone, name, role, active, token_version, created_at)"
            " VALUES (?, ?, 'district_admin', 1, 0, ?) RETURNING id",
            (phone, "验收 管理员", datetime.now(UTC).isoformat()),
        ).fetchone()
        [district] = db.execute("SELECT id FROM district ORDER BY id LIMIT 1").fetchone()
        db.execute("INSERT INTO staff_scope (account, district) VALUES (?, ?)", (account, district))
    return phone


def test_a_district_admin_drills_down_to_a_community_and_downloads_its_sheet(browser, live_server, tmp_path):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    console = watch_policy(page)
    add_virtual_authenticator(page)
    sign_in(page, new_district_admin(live_server))
    enrol_passkey(page)
    page.goto("/")
    page.click("a[href='/district']")
    rows = page.locator("[data-testid=district-row]")
    with sqlite3.connect(live_server.database) as db:
        communities = db.execute("SELECT id, name FROM community ORDER BY id").fetchall()
    expect(rows).to_have_count(len(communities))
    for community_id, name in communities:
        row = page.locator(f"[data-testid=district-row][data-community='{community_id}']")
        expect(row).to_contain_text(name)
        expect(row.locator("[data-testid=district-score]")).to_have_text(re.compile(r"^\d+(\.\d)?$"))
        expect(row).to_contain_text("门牌安装率")
        expect(row).to_contain_text("设备在线")

    home_id, home_name = communities[0]
    page.locator(
        f"[data-testid=district-row][data-community='{home_id}'] [data-testid=district-open]"
    ).click()
    expect(page).to_have_url(f"{live_server.url}/compliance/{home_id}")
    items = page.locator("[data-testid=compliance-item]")
    expect(items).to_have_count(15 if _tier(live_server, home_id) == "demonstration" else 13)
    plates = page.locator("[data-testid=compliance-item]", has_text="地址二维码门牌")
    expect(plates.locator("[data-testid=compliance-check]").first).to_contain_text("首次现场扫码确认")
    expect(plates.locator("[data-testid=compliance-check]").first).to_contain_text("已安装")
    expect(page.locator("[data-testid=compliance-subsystem]").first).to_be_visible()
    expect(page.locator("[data-testid=compliance-uplink]")).not_to_contain_text("正在加载")

    safety = page.locator("[data-testid=compliance-item][data-item='safety-10']")
    safety.locator("[data-testid=entry-points]").fill("5")
    safety.locator("[data-testid=entry-note]").fill("二级警务室 80 平方米")
    safety.locator("[data-testid=entry-save]").click()
    expect(
        page.locator("[data-testid=compliance-item][data-item='safety-10'] [data-testid=compliance-entry]")
    ).to_contain_text("二级警务室 80 平方米")
    page.reload()  # the page's own address loads it again (a bookmark, a refresh)
    expect(
        page.locator("[data-testid=compliance-item][data-item='safety-10'] [data-testid=compliance-entry]")
    ).to_contain_text("二级警务室 80 平方米")
    total = page.locator("[data-testid=compliance-total]").inner_text()

    with page.expect_download() as download:
        page.click("[data-testid=compliance-download]")
    saved = tmp_path / "sheet.pdf"
    download.value.save_as(saved)
    text = "".join(page.get_textpage().get_text_range() for page in pdfium.PdfDocument(saved))
    flat = "".join(text.split())
    assert home_name in flat and f"总分{float(total):g}/100" in flat and "二级警务室80平方米" in flat
    assert all(f"平安{no}" in flat for no in range(9, 16))
    assert not console and not policy_violations(page)
    context.close()


def _tier(live_server, community_id: int) -> str:
    with sqlite3.connect(live_server.database) as db:
        return db.execute("SELECT tier FROM community WHERE id = ?", (community_id,)).fetchone()[0]


def test_property_staff_read_their_sheet_without_entering_or_seeing_the_uplink(browser, live_server):
    page = browser.new_context(base_url=live_server.url, locale="zh-CN").new_page()
    console = watch_policy(page)
    sign_in(page, live_server.phone(Role.PROPERTY))
    page.click("a[href='/compliance']")
    expect(page.locator("[data-testid=compliance-item]").first).to_be_visible()
    expect(page.locator("[data-testid=compliance-item][data-item='safety-9']")).to_contain_text(
        "由社区民警录入"
    )
    expect(page.locator("[data-testid=entry-save]")).to_have_count(0)
    expect(page.locator("[data-testid=compliance-uplink]")).to_contain_text("仅区级管理员和社区民警可见")
    assert not console and not policy_violations(page)
    page.context.close()
