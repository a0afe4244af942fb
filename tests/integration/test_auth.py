"""Sign-in by code, token rotation and revocation, staff accounts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import jwt

from backend.accounts.tables import Account
from roles import Role


def last_code(client) -> str:
    return re.search(r"\d{6}", client.ctx.sms.outbox[-1][1])[0]


async def test_code_sign_in_creates_a_resident_account(client):
    sent = await client.post("/api/auth/code", json={"phone": "13512345678"})
    assert sent.status_code == 202 and sent.json()["expires_in"] == 300
    signed = await client.post("/api/auth/token", json={"phone": "13512345678", "code": last_code(client)})
    assert signed.status_code == 200
    body = signed.json()
    assert body["account"]["role"] == "resident" and body["token_type"] == "Bearer"
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["phone"] == "13512345678"


async def test_bad_phone_is_a_clear_422(client):
    response = await client.post("/api/auth/code", json={"phone": "12345"})
    assert response.status_code == 422
    assert response.json()["extra"] == {"code": "invalid_phone", "field": "phone"}


async def test_wrong_code_is_refused_and_attempts_are_limited(client):
    await client.post("/api/auth/code", json={"phone": "13512345678"})
    good = last_code(client)
    bad = "000000" if good != "000000" else "111111"
    for _ in range(5):
        response = await client.post("/api/auth/token", json={"phone": "13512345678", "code": bad})
        assert response.status_code == 401 and response.json()["extra"]["code"] == "wrong_code"
    # After five wrong tries the code is burnt: even the right one no longer works.
    response = await client.post("/api/auth/token", json={"phone": "13512345678", "code": good})
    assert response.status_code == 401 and response.json()["extra"]["code"] == "code_expired"


async def test_codes_cannot_be_requested_in_a_burst(client):
    assert (await client.post("/api/auth/code", json={"phone": "13512345678"})).status_code == 202
    again = await client.post("/api/auth/code", json={"phone": "13512345678"})
    assert again.status_code == 429 and "Wait" in again.json()["detail"]


async def test_a_code_works_once(world):
    phone = world.phone(Role.WARDEN)
    await world.client.post("/api/auth/code", json={"phone": phone})
    code = last_code(world.client)
    assert (
        await world.client.post("/api/auth/token", json={"phone": phone, "code": code})
    ).status_code == 200
    assert (
        await world.client.post("/api/auth/token", json={"phone": phone, "code": code})
    ).status_code == 401


async def test_oversized_and_malformed_bodies_are_4xx(client):
    huge = await client.post("/api/auth/code", json={"phone": "1" * 100_000})
    assert huge.status_code == 413
    wrong_type = await client.post("/api/auth/code", json={"phone": 13512345678})
    assert wrong_type.status_code == 400 and "phone" in wrong_type.text
    unknown_field = await client.post("/api/auth/code", json={"phone": "13512345678", "admin": True})
    assert unknown_field.status_code == 400
    not_json = await client.post("/api/auth/code", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 400


REFRESH = "anju_refresh"


def use_refresh(client, token: str) -> None:
    """Put a (possibly old) refresh token back in the jar, as a thief replaying it would."""
    client.cookies.set(REFRESH, token, domain="anju.local", path="/api/auth")


async def test_refresh_rotates_and_reuse_revokes_the_family(world):
    await world.sign_in(world.phone(Role.WARDEN))
    first = world.client.cookies[REFRESH]
    rotated = await world.client.post("/api/auth/refresh")
    assert rotated.status_code == 200 and "refresh_token" not in rotated.json()
    second = world.client.cookies[REFRESH]
    assert second != first
    # Replaying the used token looks like theft: the whole chain dies, including the new token.
    use_refresh(world.client, first)
    assert (await world.client.post("/api/auth/refresh")).status_code == 401
    use_refresh(world.client, second)
    assert (await world.client.post("/api/auth/refresh")).status_code == 401


async def test_a_refresh_that_fails_after_its_claim_leaves_the_token_unused(world):
    """The claim and the new pair commit together: the client's retry is not a reuse."""
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    account = tokens["account"]["id"]
    # Fails in issue_tokens, after the token was claimed (as a database outage there would).
    await Account.update({Account.active: False}).where(Account.id == account)
    refused = await world.client.post("/api/auth/refresh")
    assert refused.status_code == 401 and refused.json()["extra"]["code"] == "account_disabled"
    await Account.update({Account.active: True}).where(Account.id == account)
    assert (await world.client.post("/api/auth/refresh")).status_code == 200


async def test_logout_revokes_the_refresh_token(world):
    await world.sign_in(world.phone(Role.WARDEN))
    token = world.client.cookies[REFRESH]
    logout = await world.client.post("/api/auth/logout")
    assert logout.status_code == 204 and REFRESH not in world.client.cookies
    use_refresh(world.client, token)
    assert (await world.client.post("/api/auth/refresh")).status_code == 401


async def test_forged_and_expired_access_tokens_are_refused(world):
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "police"}, "not-our-key-" * 4, algorithm="HS256")
    response = await world.client.get("/api/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and response.json()["extra"]["code"] == "invalid_token"
    keys = world.ctx.keys
    expired = jwt.encode(
        {**claims, "exp": datetime.now(UTC) - timedelta(minutes=1)}, keys.signing_key, algorithm="EdDSA"
    )
    response = await world.client.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and response.json()["extra"]["code"] == "token_expired"


async def test_access_tokens_are_eddsa_and_short_lived(world):
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "EdDSA"
    claims = jwt.decode(tokens["access_token"], world.ctx.keys.verifying_key, algorithms=["EdDSA"])
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["role"] == "warden" and claims["com"] == [world.home]


async def test_district_admin_creates_scoped_staff(world):
    admin = await world.headers(Role.DISTRICT_ADMIN)
    body = {"phone": "13611112222", "name": "新协管员", "role": "warden", "community_ids": [world.home]}
    created = await world.client.post("/api/staff", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["role"] == "warden"
    duplicate = await world.client.post("/api/staff", json=body, headers=admin)
    assert duplicate.status_code == 422 and duplicate.json()["extra"]["code"] == "phone_taken"
    new_warden = await world.sign_in("13611112222")
    queue = await world.client.get(
        "/api/verification-queue", headers={"Authorization": f"Bearer {new_warden['access_token']}"}
    )
    assert queue.status_code == 200


async def test_admin_cannot_create_staff_outside_their_district(world):
    from backend.registry.tables import District
    from backend.seed import SMALL_SIZE, seed_community

    elsewhere = District(code="420102", name="江岸区")
    await elsewhere.save()
    community, _ = await seed_community(
        world.ctx, elsewhere, code="420102001001", name="别处小区", street="大智街道", size=SMALL_SIZE, seed=9
    )
    body = {"phone": "13611112223", "name": "越权", "role": "warden", "community_ids": [community.id]}
    refused = await world.client.post(
        "/api/staff", json=body, headers=await world.headers(Role.DISTRICT_ADMIN)
    )
    assert refused.status_code == 403


async def test_after_signing_in_a_new_code_can_be_requested_at_once(world):
    phone = world.phone(Role.WARDEN)
    await world.sign_in(phone)
    assert (await world.client.post("/api/auth/code", json={"phone": phone})).status_code == 202
