"""A resident turns notifications on in the PWA, and a message sent through the outbox reaches the
service worker, which shows it (and the open page says so).

Headless Chromium has no vendor push service, so two seams stand in for it, and only them:
``PushManager.subscribe()`` answers with a subscription whose endpoint is the test's local push
service (keys held by the test), and what that service receives, once decrypted, is handed to the
service worker through the DevTools protocol (``ServiceWorker.deliverPushMessage``), as the vendor's
service would deliver it. Everything between — the switch, the permission, the API, the outbox,
the push worker, VAPID, the encryption — is the real thing.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

from piccolo.engine.sqlite import SQLiteEngine
from playwright.sync_api import expect

from backend.live.outbox import PushMessage, announce
from device_bridge import store
from roles import Role
from tests.browser.conftest import sign_in
from tests.pushservice import PushService

MESSAGE = PushMessage(title="紧急报警", body="3栋2单元 一键报警", url="/me", tag="alarm:1", urgency="high")

# The browser's PushManager, answering with the test's subscription (see the module docstring).
FAKE_SUBSCRIBE = """
(subscription) => {
  let current = null;
  const make = () => ({
    endpoint: subscription.endpoint,
    toJSON: () => subscription,
    unsubscribe: async () => { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function (options) {
    if (!options || !options.userVisibleOnly || !options.applicationServerKey) throw new Error("bad options");
    window.__applicationServerKey = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)));
    current = make();
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
}
"""


def announce_to(database, phone: str) -> None:
    """What the alarms domain does: a record's transaction announces it, with a push to the account."""

    async def run() -> None:
        engine = SQLiteEngine(path=str(database))
        account = (await engine.run_ddl(f"SELECT id FROM account WHERE phone = '{phone}'"))[0]["id"]
        async with store.writer(engine) as writer:
            await announce(writer, community=1, topic="alarm", payload={}, push_to=[account], push=MESSAGE)

    with ThreadPoolExecutor(1) as thread:  # Playwright's own loop runs in this one
        thread.submit(asyncio.run, run()).result()


def wait_for(check, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


def test_a_resident_turns_notifications_on_and_the_service_worker_receives_a_push(browser, live_server):
    phone = live_server.phone(Role.RESIDENT)
    service = PushService()
    with service.in_thread():
        device = service.browser()
        context = browser.new_context(base_url=live_server.url, locale="zh-CN", permissions=["notifications"])
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.add_init_script(f"({FAKE_SUBSCRIBE})({json.dumps(device.subscription(service.url))})")
        cdp = context.new_cdp_session(page)
        registrations = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
        cdp.send("ServiceWorker.enable")
        try:
            sign_in(page, phone, then="/me")
            page.goto("/me")
            switch = page.locator("[data-testid=push-switch]")
            expect(switch).not_to_be_checked()
            switch.click()
            expect(page.locator("[data-testid=push-state]")).to_have_text("已开启：本设备会收到通知。")
            expect(switch).to_be_checked()
            with sqlite3.connect(live_server.database) as db:
                stored = db.execute("SELECT endpoint FROM push_subscription").fetchall()
            assert stored == [(device.subscription(service.url)["endpoint"],)]

            announce_to(live_server.database, phone)
            [received] = wait_for(lambda: service.messages(device))
            assert received["title"] == MESSAGE.title and received["url"] == "/me"
            key = page.evaluate("window.__applicationServerKey")
            assert service.received[0].vapid_key.rstrip("=") == _b64url(key)  # what the page subscribed with

            registration = wait_for(
                lambda: [r for r in registrations if r["scopeURL"] == live_server.url + "/"]
            )
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": live_server.url,
                    "registrationId": registration[0]["registrationId"],
                    "data": json.dumps(received, ensure_ascii=False),
                },
            )
            # The worker showed the notification and told the open page, which shows it in place.
            toast = page.locator("#toast")
            expect(toast).to_contain_text(MESSAGE.title)
            expect(toast).to_contain_text(MESSAGE.body)
            shown = page.evaluate(
                "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => [n.title, n.tag]))"
            )
            assert shown == [[MESSAGE.title, MESSAGE.tag]]

            switch.click()  # and off again: the server forgets this device
            expect(page.locator("[data-testid=push-state]")).to_have_text("未开启。")
            with sqlite3.connect(live_server.database) as db:
                assert db.execute("SELECT count(*) FROM push_subscription").fetchone() == (0,)
        finally:
            context.close()


def _b64url(standard: str) -> str:
    return standard.replace("+", "-").replace("/", "_").rstrip("=")
