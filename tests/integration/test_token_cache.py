"""Verified access tokens are cached; what can change while a token lives is still checked every time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import jwt

from roles import Role


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(world, token: str):
    return await world.client.get("/api/me", headers=bearer(token))


def refusal(response) -> str:
    assert response.status_code == 401, response.text
    return response.json()["extra"]["code"]


async def test_a_token_revoked_after_it_was_cached_is_refused_on_the_next_request(world):
    token = (await world.sign_in(world.phone(Role.WARDEN)))["access_token"]
    assert (await me(world, token)).status_code == 200
    assert world.ctx.verified_tokens.get(token) is not None  # verified once, now served from the cache
    assert (await world.client.post("/api/auth/logout")).status_code == 204
    assert refusal(await me(world, token)) == "session_ended"


async def test_a_staff_scan_with_a_cached_token_stops_when_the_account_is_disabled(world):
    token = (await world.sign_in(world.phone(Role.WARDEN)))["access_token"]
    plate = await world.house_plate(world.home_house)
    assert (await world.client.get(f"/api/scan/{plate}", headers=bearer(token))).json()["viewer"] == "staff"
    warden = world.ctx.verified_tokens.get(token)["sub"]
    admin = await world.headers(Role.DISTRICT_ADMIN)
    disabled = await world.client.patch(f"/api/staff/{warden}", json={"active": False}, headers=admin)
    assert disabled.status_code == 200, disabled.text
    assert refusal(await world.client.get(f"/api/scan/{plate}", headers=bearer(token))) == "session_ended"


async def test_an_expired_cached_token_is_refused(world):
    """A token of a live session, verified and cached while valid, is refused once its exp passes."""
    issued = (await world.sign_in(world.phone(Role.WARDEN)))["access_token"]
    claims = jwt.decode(issued, options={"verify_signature": False})
    expires = int(time.time()) + 2
    token = jwt.encode({**claims, "exp": expires}, world.ctx.keys.signing_key, algorithm="EdDSA")
    assert (await me(world, token)).status_code == 200
    assert world.ctx.verified_tokens.get(token) is not None
    await asyncio.sleep(expires - time.time() + 0.05)
    assert refusal(await me(world, token)) == "token_expired"
    assert world.ctx.verified_tokens.get(token) is None


async def test_a_cached_tokens_claims_cannot_be_reused_under_another_signature(world):
    token = (await world.sign_in(world.phone(Role.WARDEN)))["access_token"]
    assert (await me(world, token)).status_code == 200
    claims = jwt.decode(token, options={"verify_signature": False})
    raised = jwt.encode({**claims, "role": "police"}, world.ctx.keys.signing_key, algorithm="EdDSA")
    header, payload, _ = raised.split(".")
    forged = f"{header}.{payload}.{token.split('.')[2]}"  # the cached token's (valid) signature
    assert refusal(await me(world, forged)) == "invalid_token"


async def test_a_token_signed_in_the_past_but_expired_is_never_cached(world):
    issued = (await world.sign_in(world.phone(Role.WARDEN)))["access_token"]
    claims = jwt.decode(issued, options={"verify_signature": False})
    expired = jwt.encode(
        {**claims, "exp": datetime.now(UTC) - timedelta(seconds=1)},
        world.ctx.keys.signing_key,
        algorithm="EdDSA",
    )
    assert refusal(await me(world, expired)) == "token_expired"
    assert world.ctx.verified_tokens.get(expired) is None
