"""Malformed input found by tests/integration/test_api_fuzz.py: each a 400 that says why, not a 500.

- An id no row can have (beyond PostgreSQL's integer, or not positive) reached the database
  driver, which overflowed (SQLite: "Python int too large to convert to SQLite INTEGER").
- A multipart form field that is not UTF-8 text made Litestar's form parser raise.
"""

from __future__ import annotations

import pytest

from roles import Role

HUGE = 2**63  # what the fuzzer sent: larger than any database integer
BEYOND_INT4 = 2**31  # larger than our SERIAL keys, still a 64-bit integer


@pytest.mark.parametrize("bad_id", [HUGE, BEYOND_INT4, 0])
@pytest.mark.parametrize(
    "role,method,path",
    [
        (Role.POLICE, "GET", "/api/residencies/{}/history"),
        (Role.COMMUNITY_WORKER, "GET", "/api/communities/{}/metrics"),
        (Role.MAINTENANCE, "GET", "/api/communities/{}/devices"),
        (Role.RESIDENT, "POST", "/api/doors/{}/open"),
        (Role.DISTRICT_ADMIN, "POST", "/api/staff/{}/passkeys/reset"),
    ],
)
async def test_an_impossible_id_in_the_path_is_a_400_naming_it(world, role, method, path, bad_id):
    response = await world.client.request(method, path.format(bad_id), headers=await world.headers(role))
    assert response.status_code == 400, response.text
    assert "Validation failed" in response.json()["detail"]
    assert response.json()["extra"][0]["key"].endswith("_id")


@pytest.mark.parametrize(
    "role,path,body,field",
    [
        (
            Role.DISTRICT_ADMIN,
            "/api/staff",
            {"phone": "13600000001", "name": "测试", "role": "warden"},
            "community_ids",
        ),
        (
            Role.DISTRICT_ADMIN,
            "/api/grants",
            {"valid_from": "2026-01-01T00:00:00Z", "valid_until": "2026-01-02T00:00:00Z"},
            "community_id",
        ),
        (
            Role.MAINTENANCE,
            "/api/devices",
            {"code": "x-1", "kind": "smoke_sensor", "name": "烟感"},
            "community_id",
        ),
    ],
)
async def test_an_impossible_id_in_a_body_is_a_400_naming_the_field(world, role, path, body, field):
    value = [HUGE] if field.endswith("_ids") else HUGE
    extra = {"account_id": 1} if path == "/api/grants" else {}
    response = await world.client.post(
        path, json={**body, **extra, field: value}, headers=await world.headers(role)
    )
    assert response.status_code == 400, response.text
    assert field in response.text


async def test_a_form_field_that_is_not_text_is_a_400_naming_the_photo_field(world):
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"\r\n\r\n'.encode()
        + b"\x93\xff not utf-8\r\n"
        + f"--{boundary}--\r\n".encode()
    )
    response = await world.client.post(
        "/api/scan/decode",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["extra"] == {"code": "undecodable_form", "field": "image"}
