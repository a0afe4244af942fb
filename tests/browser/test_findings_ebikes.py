"""E-bikes under 我的家 and 研判 findings in the PWA: a resident registers an e-bike with its tag and
the warden's home screen shows the tag coverage;
`anju analyse` finds residents living alone not seen for days, and the warden closes one task."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import ROOT, sign_in


def test_a_resident_registers_an_ebike_with_its_tag(page: Page, browser, live_server):
    sign_in(page, live_server.phone(Role.RESIDENT))
    page.goto("/homes")
    form = page.get_by_test_id("add-ebike")
    expect(form.locator("select option").first).to_be_attached()
    form.locator("input[name=brand]").fill("雅迪")
    form.locator("input[name=colour]").fill("白")
    form.locator("input[name=tag]").fill("EBBROWSER01")
    form.locator("button[type=submit]").click()
    ebike = page.get_by_test_id("ebike")
    expect(ebike).to_have_count(1)
    expect(ebike).to_have_attribute("data-tagged", "true")
    expect(ebike).to_contain_text("雅迪 白")
    expect(ebike).not_to_contain_text("EBBROWSER01")  # the number is masked
    staff = browser.new_context(base_url=live_server.url, locale="zh-CN")
    try:
        warden = staff.new_page()
        sign_in(warden, live_server.phone(Role.WARDEN))
        expect(warden.get_by_test_id("ebike-coverage").first).to_contain_text("电动车防盗芯片安装率")
    finally:
        staff.close()


def _history_reaching_back(live_server, days: int) -> None:
    """One pass 40 days ago at the first community's gate: its records now reach back far enough
    for silence to mean something (the demo seed has no passes)."""
    at = (datetime.now(UTC) - timedelta(days=days)).isoformat(sep=" ")
    with sqlite3.connect(live_server.database) as db:
        door, device = db.execute(
            "SELECT id, device FROM door WHERE community = 1 AND kind = 'gate'"
        ).fetchone()
        db.execute(
            "INSERT INTO access_record (community, door, device, building, unit, method, direction, granted, "
            "account, person, credential, resolution, house, name, id_number_sealed, ld_bm, sk_fsdm, at, key, "
            "created_at) VALUES (1, ?, ?, NULL, NULL, 'face', 'in', 1, NULL, NULL, '', '', NULL, '', '', '', "
            "'', ?, 'browser:history', ?)",
            (door, device, at, at),
        )


def test_the_warden_closes_a_welfare_task_found_by_anju_analyse(page: Page, live_server):
    _history_reaching_back(live_server, 40)
    analysed = subprocess.run(
        [sys.executable, "-m", "backend", "analyse", "--community", "1"],
        env=live_server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert analysed.returncode == 0, analysed.stdout + analysed.stderr
    assert "new findings: occupancy" in analysed.stdout and "welfare" in analysed.stdout
    sign_in(page, live_server.phone(Role.WARDEN))
    page.goto("/")
    page.get_by_role("link", name="研判").click()
    tasks = page.locator("[data-testid=finding][data-rule=welfare]")
    expect(tasks.first).to_be_visible()
    count = tasks.count()
    expect(page.locator("[data-testid=finding][data-rule=key_person_movement]")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept("已上门，老人安好"))
    tasks.first.get_by_test_id("close-finding").click()
    expect(tasks).to_have_count(count - 1)
    page.get_by_test_id("show-closed").check()
    expect(page.locator("[data-testid=finding][data-state=closed]")).to_contain_text("已上门，老人安好")
