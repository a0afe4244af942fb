"""The web edge in Chromium: the content security policy holds on every screen, and sign-in
never sends the browser to another site (issue #13, findings 8 and 9)."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page

from roles import Role
from tests.browser.conftest import policy_violations, sign_in, watch_policy


def test_no_screen_breaks_the_content_security_policy(page: Page, live_server):
    console = watch_policy(page)
    token = live_server.plates()[0]
    for path, ready in [
        ("/", "main#app > *"),
        ("/signin", "#phone"),
        ("/scanner", "[data-testid=scan-photo]"),
        (f"/d/{token}", "[data-testid=scan-view]"),
        (f"/d/{token}/register", "form[data-testid=registration-form]"),
        ("/d/AAAAAAAAAAAAAAAA", "[data-testid=plate-not-found]"),
    ]:
        response = page.goto(path)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["x-frame-options"] == "DENY"
        page.wait_for_selector(ready)
        assert policy_violations(page) == [], path
    sign_in(page, live_server.phone(Role.WARDEN, "other"), then="/queue")
    for path, ready in [("/queue", "h1"), ("/me", "[data-testid=sign-out]")]:
        page.goto(path)
        page.wait_for_selector(ready)
        assert policy_violations(page) == [], path
    assert console == []


def test_the_plate_not_found_page_is_styled_under_the_policy(page: Page, live_server):
    page.goto("/d/AAAAAAAAAAAAAAAA")
    card = page.locator("[data-testid=plate-not-found]")
    assert card.evaluate("el => getComputedStyle(el).borderRadius") not in ("", "0px")


def test_sign_in_never_leaves_the_site(page: Page, live_server):
    # Stand in for the attacker's site, so a redirect there would land and be seen.
    page.route("http://evil.example/**", lambda route: route.fulfill(body="pwned", content_type="text/html"))
    sign_in(page, live_server.phone(Role.PROPERTY, "other"), then="%2F%09%2Fevil.example%2F")
    assert urlsplit(page.url).netloc == urlsplit(live_server.url).netloc
    assert urlsplit(page.url).path == "/"


def test_next_accepts_only_paths_of_this_origin(page: Page, live_server):
    page.goto("/signin")
    verdicts = page.evaluate(
        """async () => {
          const { safeNext } = await import("/app/router.js");
          const tries = ["/\\t/evil.example/", "/\\\\evil.example", "//evil.example", "https://evil.example/",
                         "/\\n/evil.example", "javascript:alert(1)", "/a/..//evil.example", "/d/abc?x=1#top"];
          return Object.fromEntries(tries.map((t) => [t, safeNext(t)]));
        }"""
    )
    assert verdicts.pop("/d/abc?x=1#top") == "/d/abc?x=1#top"
    assert set(verdicts.values()) == {"/"}, verdicts
