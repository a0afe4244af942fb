"""A live server (granian, demo mode, seeded SQLite) and headless Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from backend.seed import demo_phone
from roles import Role
from tests.brokers import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
DEMO_CODE = "123456"
pytestmark = pytest.mark.browser


@dataclass
class LiveServer:
    url: str
    database: Path
    log: Path
    env: dict[str, str]  # the ANJU_* settings the server, bridge and simulator run with

    def phone(self, role: Role, community: str = "home") -> str:
        return demo_phone(role, second_community=community == "other")

    def plates(self, kind: str = "house", community: str = "home") -> list[str]:
        """Tokens of the first (home) or second (other) community's plates of one kind, in address order."""
        with sqlite3.connect(self.database) as db:
            rows = db.execute(
                "SELECT d.token FROM doorplate d JOIN address a ON a.id = d.address "
                "WHERE a.kind = ? AND d.community = ? AND d.revoked_at IS NULL ORDER BY a.code",
                (kind, 2 if community == "other" else 1),
            ).fetchall()
        return [r[0] for r in rows]


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/api/codes/XB", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def _wait_for_devices(live: LiveServer, seconds: float = 30) -> None:
    """Until the simulated devices have announced themselves through the bridge."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with sqlite3.connect(live.database) as db:
            offline = db.execute("SELECT count(*) FROM device WHERE NOT online").fetchone()[0]
        if offline == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{offline} simulated devices never came online")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    var = tmp_path_factory.mktemp("live")
    port = free_port()
    url = f"http://localhost:{port}"
    env = {
        **os.environ,
        "ANJU_DATABASE_URL": f"sqlite:///{var}/anju.sqlite",
        "ANJU_VAR_DIR": str(var),
        "ANJU_DEMO": "true",
        "ANJU_PORT": str(port),
        "ANJU_HOST": "127.0.0.1",
        "ANJU_PUBLIC_URL": url,
        "ANJU_MQTT_URL": "",  # the embedded broker, as in the demo
        "ANJU_MQTT_EMBEDDED_PORT": str(free_port()),
        # The local push service of test_push.py stands in for the browser vendor's.
        "ANJU_PUSH_ALLOW_HOSTS": "127.0.0.1",
        # Every test signs in from 127.0.0.1, more often than the default budget allows an address.
        "ANJU_CODES_PER_ADDRESS_PER_HOUR": "1000",
        # An unanswered intercom call moves on to the next member sooner (test_intercom.py).
        "ANJU_INTERCOM_RING_SECONDS": "6",
        # The simulated RTSP cameras `anju bridge --simulate` serves, at the addresses the seed gives them.
        "ANJU_RTSP_SIM_PORT": str(free_port()),
        # No stream probe: a probe slowed down by a busy machine would raise video-loss alarms on
        # other tests' boards (tests/integration/test_video_live.py probes on purpose).
        "ANJU_VIDEO_PROBE_SECONDS": "0",
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "backend", "seed"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    devices = subprocess.Popen(
        [sys.executable, "-m", "backend", "bridge", "--simulate"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # To a file: a pipe nobody reads once the server is up would fill and block its logging.
    log = (var / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_until_up(url, server, var / "serve.log")
        live = LiveServer(url=url, database=var / "anju.sqlite", log=var / "serve.log", env=env)
        _wait_for_devices(live)
        yield live
    finally:
        for process in (server, devices):
            process.terminate()
            process.wait(timeout=10)


CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """Debian's Chromium, headless, with ``extra_args`` (a fake camera, say) beside the usual ones."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: sync Playwright runs an event loop that must be gone before async tests run."""
    with chromium() as browser:
        yield browser


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.call_failed = report.failed
    return report


@pytest.fixture
def page(request, browser, live_server) -> Page:
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    calls: list[str] = []
    page.on("response", lambda r: "/api/" in r.url and calls.append(f"{r.status} {r.request.method} {r.url}"))
    yield page
    context.close()
    if getattr(request.node, "call_failed", False):  # shown under the failure's captured output
        print("API calls of the page:", *calls[-30:], sep="\n  ")
        print("server log (tail):", *live_server.log.read_text().splitlines()[-40:], sep="\n  ")


def add_virtual_authenticator(page: Page) -> None:
    """A platform authenticator with user verification, as on a phone with a screen lock."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def sign_in(page: Page, phone: str, then: str = "/") -> None:
    page.goto(f"/signin?next={then}")
    page.fill("#phone", phone)
    page.click("[data-testid=send-code]")
    page.fill("#code", DEMO_CODE)
    page.click("[data-testid=sign-in]")
    page.wait_for_selector("[data-testid=signed-in-as]")


def open_plate(page: Page, token: str) -> None:
    page.goto(f"/d/{token}")
    page.wait_for_selector("[data-testid=scan-view]")


def new_officer(live_server, name: str = "新 民警") -> str:
    """A home community officer of the calling test's own (its phone): the seeded officers' passkeys
    belong to test_pwa.py and test_residency.py, whose code sign-ins a passkey enrolled elsewhere
    would end. Sign in with it, then enrol_passkey: police act only in a passkey session."""
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    with sqlite3.connect(live_server.database) as db:
        [account] = db.execute(
            "INSERT INTO account (phone, name, role, active, token_version, created_at)"
            " VALUES (?, ?, 'police', 1, 0, ?) RETURNING id",
            (phone, name, datetime.now(UTC).isoformat()),
        ).fetchone()
        db.execute("INSERT INTO staff_scope (account, community) VALUES (?, 1)", (account,))
    return phone


def enrol_passkey(page: Page) -> None:
    page.goto("/me")
    page.click("[data-testid=enrol-passkey]")
    expect(page.locator("[data-testid=passkey-enrolled]")).to_be_visible()


REPORT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def watch_policy(page: Page) -> list[str]:
    """Violations as the console reports them; the page's own list is read with policy_violations."""
    console: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and console.append(m.text))
    page.add_init_script(REPORT_VIOLATIONS)
    return console


def policy_violations(page: Page) -> list[str]:
    return page.evaluate("window.__violations")
