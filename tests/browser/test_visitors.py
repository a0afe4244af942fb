"""A visitor's pass end to end: a resident creates it in the PWA, the visitor opens the link in
another browser without an account, sees the QR and the countdown, and opens the gate through
the bridge and a simulated gate (the live server runs `anju bridge --simulate`); then shows the
QR read off the screen at the gate, which verifies it offline, over the real MQTT path."""

from __future__ import annotations

import asyncio
import base64
import io
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import aiomqtt
from PIL import Image
from playwright.sync_api import Page, expect
from pyzbar import pyzbar

from backend.keys import Keys
from backend.settings import from_env
from device_bridge import protocol
from device_bridge.protocol import AckData, Channel
from device_bridge.simulator import PRESENT
from device_bridge.transport import client_options
from qr import passes
from roles import Role
from tests.browser.conftest import policy_violations, sign_in, watch_policy


async def _present(live_server, door_id: int, token: str) -> AckData:
    """The platform's signed `present` command to the door's simulated reader (a visitor holding up
    the QR), sent on the embedded broker with the platform's account; the reader's signed ack."""
    settings = from_env(live_server.env)
    with sqlite3.connect(live_server.database) as db:
        code, sealed, community, number = db.execute(
            "SELECT v.code, v.secret_sealed, c.code, d.device_door FROM door d JOIN device v ON v.id = d.device "
            "JOIN community c ON c.id = d.community WHERE d.id = ?",
            (door_id,),
        ).fetchone()
    secret = Keys(settings.secret()).unseal(sealed).encode()
    command = protocol.topic(settings.mqtt_prefix, community, code, Channel.CMD)
    answer = protocol.topic(settings.mqtt_prefix, community, code, Channel.ACK)
    command_id = uuid.uuid4().hex
    async with aiomqtt.Client(**client_options(settings.broker)) as client, asyncio.timeout(10):
        await client.subscribe(answer)
        data = {"action": PRESENT, "door": number, "token": token}
        await client.publish(command, protocol.encode(secret, command, command_id, "cmd", data))
        async for message in client.messages:
            ack = protocol.data_as(protocol.verify(secret, answer, protocol.decode(message.payload)), AckData)
            if ack.command == command_id:
                return ack
    raise AssertionError("no ack")


def _in_a_thread(coroutine):
    """Playwright's sync API holds this thread's event loop: run asyncio elsewhere."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


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
        shown = _decoded_qr(screen)
    finally:
        visitor.close()

    # The same QR held up at the gate's reader: verified there offline, reported, counted.
    assert _in_a_thread(_present(live_server, gate_id, shown)).ok
    tampered = shown[:30] + ("B" if shown[30] == "A" else "A") + shown[31:]
    refused = _in_a_thread(_present(live_server, gate_id, tampered))
    assert (refused.ok, refused.reason) == (False, "tampered")
    deadline = time.monotonic() + 10
    while _visits(live_server, claims.pass_id) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)

    with sqlite3.connect(live_server.database) as db:
        records = db.execute(
            "SELECT door, granted, key LIKE 'cmd:%' FROM access_record WHERE method = 'qr_pass' AND credential = ? "
            "ORDER BY id",
            (f"pass:{claims.pass_id}",),
        ).fetchall()
        visits = db.execute(
            "SELECT door, granted, via FROM visit WHERE visitor_pass = ? ORDER BY id", (claims.pass_id,)
        ).fetchall()
        uses_left = db.execute(
            "SELECT uses_left FROM visitor_pass WHERE id = ?", (claims.pass_id,)
        ).fetchone()[0]
    assert records == [(gate_id, 1, 1), (gate_id, 1, 0)]  # the link's command, then the reader's event
    assert visits == [(gate_id, 1, "link"), (gate_id, 1, "device")]
    assert uses_left == 4 - 2

    # The resident sees both visits on the pass.
    page.reload()
    first = page.locator("[data-testid=pass-item]").first
    first.locator("[data-testid=pass-visits]").click()
    expect(first.locator("li")).to_have_count(2)


def _visits(live_server, pass_id: int) -> int:
    with sqlite3.connect(live_server.database) as db:
        return db.execute("SELECT count(*) FROM visit WHERE visitor_pass = ?", (pass_id,)).fetchone()[0]
