"""A visitor's pass end to end: a resident creates it in the PWA, the visitor opens the link in
another browser without an account, sees the QR and the countdown, and opens the gate through
the bridge and a simulated gate (the live server runs `anju bridge --simulate`)."""

from __future__ import annotations

import base64
import io
import sqlite3
from datetime import UTC, datetime

from PIL import Image
from playwright.sync_api import Page, expect
from pyzbar import pyzbar

from qr import passes
from roles import Role
from tests.browser.conftest import policy_violations, sign_in, watch_policy


def _decoded_qr(page: Page) -> str:
    """The token as a door's reader would read it off the visitor's screen."""
    shot = page.locator("[data-testid=pass-qr]").screenshot()
    [symbol] = pyzbar.decode(Image.open(io.BytesIO(shot)), symbols=[pyzbar.ZBarSymbol.QRCODE])
    return symbol.data.decode()


def test_a_visitor_opens_the_gate_from_the_shared_link(browser, live_server, page: Page):
    sign_in(page, live_server.phone(Role.RESIDENT), then="/visitors")
    page.wait_for_selector("#visitor-name")
    page.fill("#visitor-name", "王 访客")
    page.fill("#visitor-plate", "鄂AD12345")
    page.click("[data-testid=create-pass]")
    link = page.locator("[data-testid=share-link]").get_attribute("href")
    expect(page.locator("[data-testid=pass-item]").first).to_contain_text("王 访客")

    visitor = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 390, "height": 844}
    )
    try:
        screen = visitor.new_page()
        screen.set_default_timeout(10_000)
        console = watch_policy(screen)
        screen.goto(link)
        expect(screen.locator("[data-testid=pass-qr]")).to_be_visible()
        expect(screen.locator("[data-testid=signed-in-as]")).to_have_count(0)  # no account here

        # The QR on screen is the signed token: it verifies offline with the community's public key.
        key = screen.evaluate("fetch('/api/communities/1/pass-key').then(r => r.json())")
        gate = screen.locator("[data-testid=pass-door]").first
        gate_id = int(gate.get_attribute("data-door-id"))
        claims = passes.verify(
            _decoded_qr(screen),
            passes.public_key(base64.b64decode(key["public_key"])),
            gate_id,
            datetime.now(UTC),
        )
        assert isinstance(claims, passes.Claims)

        countdown = screen.locator("[data-testid=pass-countdown]")
        before = countdown.text_content()
        assert before.startswith("剩余时间 03:59") or before.startswith("剩余时间 04:00")
        expect(countdown).not_to_have_text(before)  # it ticks

        gate.locator("[data-testid=pass-open]").click()
        expect(gate.locator("[data-testid=pass-opened]")).to_be_visible()
        assert not console and not policy_violations(screen)
    finally:
        visitor.close()

    with sqlite3.connect(live_server.database) as db:
        record = db.execute(
            "SELECT door, granted FROM access_record WHERE method = 'qr_pass' AND credential = ?",
            (f"pass:{claims.pass_id}",),
        ).fetchall()
        visit = db.execute(
            "SELECT door, granted, via FROM visit WHERE visitor_pass = ?", (claims.pass_id,)
        ).fetchall()
    assert record == [(gate_id, 1)]
    assert visit == [(gate_id, 1, "link")]
