"""The PWA's live-stream client (pwa/live.js) over a real server: a warden's page receives an event
announced through the outbox, with the bearer token in a header and nothing in the URL."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from piccolo.engine.sqlite import SQLiteEngine
from playwright.sync_api import Page

from backend.live.outbox import announce
from device_bridge import store
from roles import Role
from tests.browser.conftest import sign_in
from tests.browser.test_push import wait_for

WATCH = """
async (community) => {
  const { watchLive } = await import("/app/live.js");
  window.__live = { events: [], states: [] };
  window.__stop = watchLive(community, (e) => window.__live.events.push(e), {
    onState: (state) => window.__live.states.push(state),
  });
}
"""


def announced(database, community: int, payload: dict) -> int:
    async def run() -> int:
        async with store.writer(SQLiteEngine(path=str(database))) as writer:
            return await announce(writer, community=community, topic="alarm", payload=payload)

    with ThreadPoolExecutor(1) as thread:  # Playwright's own loop runs in this one
        return thread.submit(asyncio.run, run()).result()


def test_a_wardens_page_receives_live_events_of_its_community(page: Page, live_server):
    requests = []
    page.on("request", lambda r: r.url.endswith("/live") and requests.append((r.url, r.headers)))
    sign_in(page, live_server.phone(Role.WARDEN))
    page.evaluate(WATCH, 1)
    wait_for(lambda: page.evaluate("window.__live.states").count("open") == 1)

    announced(live_server.database, 2, {"kind": "other community"})
    first = announced(live_server.database, 1, {"kind": "sos", "text": "3栋\n一键报警"})
    second = announced(live_server.database, 1, {"kind": "smoke"})
    events = wait_for(lambda: len(got := page.evaluate("window.__live.events")) == 2 and got)
    assert events == [
        {"id": first, "topic": "alarm", "data": {"kind": "sos", "text": "3栋\n一键报警"}},
        {"id": second, "topic": "alarm", "data": {"kind": "smoke"}},
    ]
    [(url, headers)] = requests
    assert url == f"{live_server.url}/api/communities/1/live"  # no token in the URL
    assert headers["authorization"].startswith("Bearer ") and headers["accept"] == "text/event-stream"
    page.evaluate("window.__stop()")


def test_a_resident_is_refused_and_not_retried(page: Page, live_server):
    sign_in(page, live_server.phone(Role.RESIDENT))
    page.evaluate(WATCH, 1)
    assert wait_for(lambda: page.evaluate("window.__live.states")) == ["refused"]
