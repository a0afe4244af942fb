"""The video intercom in Chromium: a simulated panel (``anju bridge --simulate``: aiortc, a test
pattern) calls a flat; the resident's page rings (and the ring went out as a web push), answers,
plays the panel's live video peer to peer (its frames advance), talks with a (fake) microphone,
and opens the door, which the simulated panel executes. Unanswered calls ring the next member and
end up missed in the household's log; a second member's answer after the first is refused.

Chromium flags: a fake microphone granted without a prompt (--use-fake-ui-for-media-stream,
--use-fake-device-for-media-stream), real host ICE candidates rather than mDNS ``.local`` names
that aiortc would have to resolve (--disable-features=WebRtcHideLocalIpsWithMdns), and video that
plays without a user gesture (the tap on "answer" is one on a phone; Playwright's click may not count).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from device_bridge.executed import executed_in
from roles import Role
from tests.browser.conftest import DEMO_CODE, ROOT, chromium, policy_violations, sign_in, watch_policy
from tests.pushservice import PushService

MEDIA_FLAGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
)
# Both ways of the talk, as the phone's peer connection counts them: the panel's voice in, the microphone out.
AUDIO = """async () => {
  const peer = document.querySelector("[data-testid=call-video]").peer;
  let heard = 0, sent = 0;
  (await peer.getStats()).forEach((r) => {
    if (r.kind === "audio" && r.type === "inbound-rtp") heard = r.packetsReceived;
    if (r.kind === "audio" && r.type === "outbound-rtp") sent = r.packetsSent;
  });
  return heard > 25 && sent > 25;
}"""
FRAMES = """() => {
  const video = document.querySelector("[data-testid=call-video]");
  if (!video) return null;
  return { time: video.currentTime, frames: video.getVideoPlaybackQuality().totalVideoFrames };
}"""


@pytest.fixture(scope="module")
def media_browser() -> Iterator[Browser]:
    with chromium(*MEDIA_FLAGS) as browser:
        yield browser


def wait_for(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


def first_flat(live_server) -> tuple[int, int, str]:
    """The resident's flat: its id, unit and room number."""
    with sqlite3.connect(live_server.database) as db:
        return db.execute(
            "SELECT id, unit, room_no FROM house WHERE community = 1 ORDER BY id LIMIT 1"
        ).fetchone()


def add_member(live_server, house: int) -> str:
    """An account for another verified member of the flat (one without an account yet); its phone."""
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    with sqlite3.connect(live_server.database) as db:
        residency = db.execute(
            "SELECT id FROM residency WHERE house = ? AND status = 'verified' AND account IS NULL ORDER BY id",
            (house,),
        ).fetchone()
        assert residency, "the seeded first flat has a second verified member"
        [account] = db.execute(
            "INSERT INTO account (phone, name, role, active, token_version, created_at)"
            " VALUES (?, '家人 测试', 'resident', 1, 0, ?) RETURNING id",
            (phone, datetime.now(UTC).isoformat()),
        ).fetchone()
        db.execute("UPDATE residency SET account = ? WHERE id = ?", (account, residency[0]))
    return phone


def unlink(live_server, phone: str) -> None:
    """The member leaves the flat's ring order again (other tests ring the flat too)."""
    with sqlite3.connect(live_server.database) as db:
        db.execute(
            "UPDATE residency SET account = NULL WHERE account = (SELECT id FROM account WHERE phone = ?)",
            (phone,),
        )


def ring(live_server, unit: int, room: str) -> None:
    """A visitor at the unit door keys in the flat: `anju intercom call` makes the simulated panel ring."""
    done = subprocess.run(
        [sys.executable, "-m", "backend", "intercom", "call", "--unit", str(unit), "--house", room],
        env=live_server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def calls(live_server, house: int) -> list[tuple]:
    with sqlite3.connect(live_server.database) as db:
        return db.execute(
            "SELECT id, state, ringing, answered_by FROM intercom_call WHERE house = ? ORDER BY id", (house,)
        ).fetchall()


def account_id(live_server, phone: str) -> int:
    with sqlite3.connect(live_server.database) as db:
        return db.execute("SELECT id FROM account WHERE phone = ?", (phone,)).fetchone()[0]


def api_headers(live_server, phone: str) -> dict[str, str]:
    with httpx.Client(base_url=live_server.url) as client:
        assert client.post("/api/auth/code", json={"phone": phone}).status_code == 202
        tokens = client.post("/api/auth/token", json={"phone": phone, "code": DEMO_CODE}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def resident_page(browser: Browser, live_server, phone: str) -> Page:
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch_policy(page)  # WebRTC needs nothing from the CSP: its media is a MediaStream, not a URL
    sign_in(page, phone, then="/intercom")
    expect(page.get_by_test_id("intercom-status")).to_have_text("等待来电")
    return page


def test_a_panel_calls_the_resident_answers_sees_live_video_and_opens_the_door(media_browser, live_server):
    house, unit, room = first_flat(live_server)
    phone = live_server.phone(Role.RESIDENT)
    service = PushService()
    with service.in_thread():
        device = service.browser()
        subscription = device.subscription(service.url)
        headers = api_headers(live_server, phone)
        subscribed = httpx.post(
            f"{live_server.url}/api/push/subscriptions", json=subscription, headers=headers
        )
        assert subscribed.status_code == 204, subscribed.text
        page = resident_page(media_browser, live_server, phone)
        try:
            before = len(calls(live_server, house))
            ring(live_server, unit, room)
            incoming = page.get_by_test_id("incoming-call")
            expect(incoming).to_be_visible()
            call_id = calls(live_server, house)[-1][0]
            assert len(calls(live_server, house)) == before + 1
            # The ring also went to the member's phone as a web push, opening this call.
            pushed = wait_for(lambda: [m for m in service.messages(device) if m["tag"] == f"call:{call_id}"])
            assert pushed[0]["url"] == f"/intercom?call={call_id}"

            page.get_by_test_id("accept-call").click()
            # The panel's test pattern plays: frames are decoded and the playback time moves on.
            page.wait_for_function(f"() => ({FRAMES})()?.frames > 10")
            first = page.evaluate(FRAMES)
            page.wait_for_function(
                f"() => ({FRAMES})().time > {first['time']} + 1 && ({FRAMES})().frames > {first['frames']} + 10"
            )
            page.wait_for_function(AUDIO)
            page.get_by_test_id("open-door").click()
            expect(page.get_by_test_id("door-result")).to_have_attribute("data-opened", "true")
            # What the panel itself did: the open command it executed (its state file) and acked.
            with sqlite3.connect(live_server.database) as db:
                [key, granted] = db.execute(
                    "SELECT key, granted FROM access_record WHERE method = 'visitor_call' AND credential = ?",
                    (f"call:{call_id}",),
                ).fetchone()
            assert granted == 1
            command = key.removeprefix("cmd:")
            executed = [
                e for e in executed_in(Path(live_server.env["ANJU_VAR_DIR"]) / "devices") if e.id == command
            ]
            assert executed and executed[0].ack["ok"] is True
            assert calls(live_server, house)[-1][1] == "opened"

            page.get_by_test_id("hang-up").click()
            expect(page.get_by_test_id("call-ended")).to_be_visible()
            assert calls(live_server, house)[-1][1] == "ended"
            assert policy_violations(page) == []
        finally:
            page.context.close()
            # Other tests count the resident's subscriptions: this one goes with its push service.
            gone = httpx.request(
                "DELETE",
                f"{live_server.url}/api/push/subscriptions",
                json={"endpoint": subscription["endpoint"]},
                headers=headers,
            )
            assert gone.status_code in (200, 204), gone.text


def test_an_unanswered_call_rings_the_next_member_then_is_missed(media_browser, live_server):
    house, unit, room = first_flat(live_server)
    resident = live_server.phone(Role.RESIDENT)
    member = add_member(live_server, house)
    pages = []
    try:
        pages = [resident_page(media_browser, live_server, p) for p in (resident, member)]
        ring(live_server, unit, room)
        expect(pages[0].get_by_test_id("incoming-call")).to_be_visible()
        expect(pages[1].get_by_test_id("incoming-call")).to_be_hidden()  # one member at a time
        call_id = calls(live_server, house)[-1][0]
        # Nobody answers: after ANJU_INTERCOM_RING_SECONDS the second member's phone rings instead.
        expect(pages[1].get_by_test_id("incoming-call")).to_be_visible(timeout=60_000)
        expect(pages[0].get_by_test_id("incoming-call")).to_be_hidden()
        assert calls(live_server, house)[-1][2] == account_id(live_server, member)
        # …and then nobody's: the call is in both members' logs as missed.
        for page in pages:
            missed = page.locator(f"[data-testid=call-log-item][data-call='{call_id}']")
            expect(missed).to_have_attribute("data-state", "missed", timeout=60_000)
        expect(pages[1].get_by_test_id("incoming-call")).to_be_hidden()
    finally:
        for page in pages:
            page.context.close()
        unlink(live_server, member)


def test_a_second_members_answer_after_the_first_is_refused(media_browser, live_server):
    house, unit, room = first_flat(live_server)
    resident = live_server.phone(Role.RESIDENT)
    member = add_member(live_server, house)
    try:
        page = resident_page(media_browser, live_server, resident)
        ring(live_server, unit, room)
        page.get_by_test_id("accept-call").click()
        page.wait_for_function(f"() => ({FRAMES})()?.frames > 5")
        call_id = calls(live_server, house)[-1][0]
        # The other member's phone, knowing the call, answers too: refused, nothing changes.
        late = httpx.post(
            f"{live_server.url}/api/calls/{call_id}/answer",
            json={"sdp": "v=0\r\n"},
            headers=api_headers(live_server, member),
        )
        assert late.status_code == 409 and late.json()["extra"]["code"] == "call_taken"
        assert calls(live_server, house)[-1][1:] == ("answered", None, account_id(live_server, resident))
        page.get_by_test_id("hang-up").click()
        expect(page.get_by_test_id("call-ended")).to_be_visible()
        page.context.close()
    finally:
        unlink(live_server, member)
