"""The web edge as an attacker tries it: headers, floods, odd characters, deep JSON, spoofed
addresses and grants to oneself (issue #13, findings 8-11)."""

from __future__ import annotations

import datetime as dt
import io

import httpx
import msgspec
import pytest
from PIL import Image

from backend.accounts.tables import Account
from backend.app import create_app
from backend.registry.enums import ResidenceCategory, ResidencyStatus
from backend.registry.tables import Residency
from roles import Role
from tests.integration.test_registration import FORM, register

UNKNOWN_PLATE = "AAAAAAAAAAAAAAAA"
INVISIBLE = {
    "nul": "\x00",
    "bell": "\x07",
    "newline": "\n",
    "zero-width space": "\u200b",
    "right-to-left override": "\u202e",
}


def tune(world, **changes) -> None:
    """Run the rest of the test with some settings changed (the app reads them per request)."""
    world.ctx.settings = msgspec.structs.replace(world.ctx.settings, **changes)


def assert_secure_headers(response: httpx.Response) -> None:
    csp = response.headers.get("content-security-policy", "")
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp, (response.request.url, csp)
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("referrer-policy") == "no-referrer"
    assert "camera=(self)" in response.headers.get("permissions-policy", "")


# --- finding 8: security headers -------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("GET", "/api/health", 200),
        ("GET", "/", 200),
        ("GET", "/signin", 200),
        ("GET", "/app/app.js", 200),
        ("GET", "/sw.js", 200),
        ("GET", "/manifest.webmanifest", 200),
        ("GET", f"/d/{UNKNOWN_PLATE}", 404),
        ("GET", "/api/no-such-thing", 404),
        ("GET", "/app/no-such-file.js", 404),
        ("POST", "/api/auth/code", 400),
        ("DELETE", "/api/health", 405),
    ],
)
async def test_every_kind_of_response_carries_the_security_headers(world, method, path, status):
    response = await world.client.request(method, path)
    assert response.status_code == status
    assert_secure_headers(response)
    assert "strict-transport-security" not in response.headers  # served over plain http here


async def test_the_plate_page_has_no_inline_style_for_the_policy_to_block(world):
    page = await world.client.get(f"/d/{UNKNOWN_PLATE}")
    assert "<style" not in page.text and 'style="' not in page.text


async def test_hsts_is_sent_when_the_public_url_is_https(settings):
    app = create_app(msgspec.structs.replace(settings, public_url="https://anju.example"))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://anju.example") as client:
        response = await client.get("/api/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert_secure_headers(response)


# --- finding 10: floods ---------------------------------------------------------------------


async def test_anonymous_registration_floods_are_limited(world):
    tune(world, anonymous_registrations_per_hour=3)
    first = await register(world)
    assert first.status_code == 201
    for _ in range(2):
        await register(world)
    flooded = await register(world)
    assert flooded.status_code == 429 and flooded.json()["extra"]["code"] == "rate_limited"


async def test_signed_in_residents_are_not_held_to_the_anonymous_limit(world):
    tune(world, anonymous_registrations_per_hour=1)
    await register(world)
    member = await register(world, body={**FORM, "phone": "13912345678"}, role=Role.RESIDENT)
    assert member.status_code != 429


def _blank_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(out, "PNG")
    return out.getvalue()


async def test_photo_decoding_floods_are_limited(world):
    tune(world, decodes_per_minute=2)
    photo = {"image": ("x.png", _blank_png(), "image/png")}
    for _ in range(2):
        assert (await world.client.post("/api/scan/decode", files=photo)).status_code == 422
    flooded = await world.client.post("/api/scan/decode", files=photo)
    assert flooded.status_code == 429 and flooded.json()["extra"]["code"] == "rate_limited"


async def test_a_valid_plate_still_answers_after_the_miss_budget_is_spent(world):
    tune(world, scan_misses_per_minute=3)
    good = await world.house_plate(world.home_house)
    for i in range(3):
        assert (await world.client.get(f"/api/scan/guess{i:011d}")).status_code == 404
    assert (await world.client.get(f"/api/scan/{UNKNOWN_PLATE}")).status_code == 429
    assert (await world.client.get(f"/d/{UNKNOWN_PLATE}")).status_code == 429
    assert (await world.client.get(f"/api/scan/{good}")).status_code == 200
    assert (await world.client.get(f"/d/{good}")).status_code == 200


# --- finding 10: client addresses ---------------------------------------------------------


async def _spend_misses(world, forwarded_for: list[str]) -> list[int]:
    return [
        (await world.client.get(f"/api/scan/{UNKNOWN_PLATE}", headers={"X-Forwarded-For": hop})).status_code
        for hop in forwarded_for
    ]


async def test_x_forwarded_for_from_an_untrusted_peer_changes_nothing(world):
    tune(world, scan_misses_per_minute=3)
    statuses = await _spend_misses(world, [f"203.0.113.{i}" for i in range(4)])
    assert statuses == [404, 404, 404, 429]


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(world):
    tune(world, scan_misses_per_minute=3, trusted_proxies="127.0.0.1, 10.0.0.0/8")
    assert await _spend_misses(world, ["198.51.100.7"] * 4) == [404, 404, 404, 429]
    # Another client behind the same proxy (through a second, inner proxy) is not affected.
    assert await _spend_misses(world, ["198.51.100.8, 10.1.2.3"]) == [404]
    # Prepending made-up hops does not make a new client: the right-most untrusted one counts.
    assert await _spend_misses(world, ["6.6.6.6, 198.51.100.7"]) == [429]


# --- finding 10: characters, nesting and paths ---------------------------------------------


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
async def test_invisible_and_control_characters_in_a_name_are_refused(world, char):
    response = await register(world, body={**FORM, "name": f"赵{char}子涵"})
    assert response.status_code == 422, response.text
    assert response.json()["extra"] == {"code": "invalid_characters", "field": "name"}


async def test_nul_in_the_hukou_address_is_refused(world):
    response = await register(world, body={**FORM, "hukou_address": "北京市\x00朝阳区"})
    assert response.status_code == 422 and response.json()["extra"]["field"] == "hukou_address"


async def _pending_residency(world) -> int:
    created = await register(world)
    assert created.status_code == 201
    return created.json()["residency_id"]


async def test_nul_in_a_rejection_reason_is_refused(world):
    residency = await _pending_residency(world)
    response = await world.client.post(
        f"/api/residencies/{residency}/reject",
        json={"reason": "不符\x00"},
        headers=await world.headers(Role.WARDEN),
    )
    assert response.status_code == 422 and response.json()["extra"]["field"] == "reason"


async def test_zero_width_characters_in_a_key_person_category_are_refused(world):
    resident = (
        await Residency.objects()
        .where(
            (Residency.community == world.home)
            & (Residency.status == ResidencyStatus.VERIFIED)
            & (Residency.person.residence_category != ResidenceCategory.PERMANENT)
        )
        .first()
    )
    response = await world.client.post(
        f"/api/people/{resident.person}/key-person",
        json={"key_person": True, "key_category": "\u200b吸毒\x00"},
        headers=await world.headers(Role.POLICE),
    )
    assert response.status_code == 422 and response.json()["extra"]["field"] == "key_category"


async def test_nul_in_a_staff_name_is_refused(world):
    response = await world.client.post(
        "/api/staff",
        json={
            "phone": "13611112222",
            "name": "新\x00协管员",
            "role": "warden",
            "community_ids": [world.home],
        },
        headers=await world.headers(Role.DISTRICT_ADMIN),
    )
    assert response.status_code == 422 and response.json()["extra"]["field"] == "name"


async def test_nul_in_a_device_name_is_refused(world):
    response = await world.client.post(
        "/api/devices",
        json={"community_id": world.home, "code": "smoke-x", "kind": "smoke_sensor", "name": "烟感\x00"},
        headers=await world.headers(Role.MAINTENANCE),
    )
    assert response.status_code == 422 and response.json()["extra"]["field"] == "name"


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/auth/code", b'{"phone":' + b"[" * 1000 + b"]" * 1000 + b"}"),
        ("/api/auth/passkeys/authenticate", b'{"ticket":"x","credential":' + _nested(1000) + b"}"),
    ],
    ids=["array field", "object field"],
)
async def test_deeply_nested_json_is_a_clear_4xx(world, path, body):
    response = await world.client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["extra"]["code"] == "too_deep"


async def test_json_with_ordinary_nesting_still_works(world):
    response = await world.client.post("/api/auth/code", json={"phone": world.phone(Role.RESIDENT)})
    assert response.status_code == 202


@pytest.mark.parametrize(
    "path", ["/app/%00", "/app/%00.js", "/app/icons%00/icon.svg", "/app/..%2f..%2fetc/passwd"]
)
async def test_bad_asset_paths_are_404(world, path):
    response = await world.client.get(path)
    assert response.status_code == 404


async def test_a_nul_plate_token_is_404_on_every_plate_route(world):
    headers = await world.headers(Role.PROPERTY)
    assert (
        await world.client.post("/api/plates/%00AAAAAAAAAAAAAAA/replace", headers=headers)
    ).status_code == 404
    assert (await world.client.get("/d/%00AAAAAAAAAAAAAAA")).status_code == 404


# --- finding 11: grants -----------------------------------------------------------------------


async def _grant(world, account_phone: str, days: float, role: Role = Role.PROPERTY) -> httpx.Response:
    account = await Account.objects().get(Account.phone == account_phone)
    start = dt.datetime.now(dt.UTC)
    return await world.client.post(
        "/api/grants",
        json={
            "account_id": account.id,
            "community_id": world.home,
            "valid_from": start.isoformat(),
            "valid_until": (start + dt.timedelta(days=days)).isoformat(),
        },
        headers=await world.headers(role),
    )


async def test_nobody_grants_themselves(world):
    response = await _grant(world, world.phone(Role.PROPERTY), days=1)
    assert response.status_code == 403 and response.json()["extra"]["code"] == "self_grant"


async def test_grants_longer_than_the_cap_are_refused(world):
    tune(world, grant_max_days=30)
    response = await _grant(world, world.phone(Role.WARDEN), days=31)
    assert response.status_code == 422 and response.json()["extra"] == {
        "code": "grant_too_long",
        "field": "valid_until",
    }
    assert (await _grant(world, world.phone(Role.WARDEN), days=30)).status_code == 201
