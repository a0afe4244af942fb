"""Passkeys over the API with a software authenticator: enrolment, sign-in, replay and tampering."""

from __future__ import annotations

from roles import Role
from tests.softkey import SoftKey, b64url, unb64url


async def _enrolled_police(world) -> tuple[SoftKey, dict]:
    key = SoftKey(world.ctx.settings.origin)
    tokens = await world.sign_in(world.phone(Role.POLICE))
    assert tokens["account"]["passkey_required"] is True
    return key, await world.enrol_passkey(tokens["access_token"], key)


async def test_enrolment_unlocks_the_police_role(world):
    _, session = await _enrolled_police(world)
    assert session["account"]["has_passkey"] and not session["account"]["passkey_required"]
    queue = await world.client.get(
        "/api/verification-queue", headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    assert queue.status_code == 200


async def test_sign_in_with_a_passkey(world):
    key, _ = await _enrolled_police(world)
    options = (await world.client.post("/api/auth/passkeys/authentication-options")).json()
    signed = await world.client.post(
        "/api/auth/passkeys/authenticate",
        json={"ticket": options["ticket"], "credential": key.get(options["options"])},
    )
    assert signed.status_code == 200 and signed.json()["account"]["role"] == "police"


async def test_a_ticket_works_once(world):
    key, _ = await _enrolled_police(world)
    options = (await world.client.post("/api/auth/passkeys/authentication-options")).json()
    body = {"ticket": options["ticket"], "credential": key.get(options["options"])}
    assert (await world.client.post("/api/auth/passkeys/authenticate", json=body)).status_code == 200
    replay = await world.client.post("/api/auth/passkeys/authenticate", json=body)
    assert replay.status_code == 401 and replay.json()["extra"]["code"] == "challenge_expired"


async def test_a_tampered_signature_or_foreign_key_is_refused(world):
    key, _ = await _enrolled_police(world)
    options = (await world.client.post("/api/auth/passkeys/authentication-options")).json()
    credential = key.get(options["options"])
    signature = bytearray(unb64url(credential["response"]["signature"]))
    signature[-1] ^= 1
    credential["response"]["signature"] = b64url(bytes(signature))
    tampered = await world.client.post(
        "/api/auth/passkeys/authenticate", json={"ticket": options["ticket"], "credential": credential}
    )
    assert tampered.status_code == 401 and tampered.json()["extra"]["code"] == "invalid_passkey"
    stranger = SoftKey(world.ctx.settings.origin)
    options = (await world.client.post("/api/auth/passkeys/authentication-options")).json()
    unknown = await world.client.post(
        "/api/auth/passkeys/authenticate",
        json={"ticket": options["ticket"], "credential": stranger.get(options["options"])},
    )
    assert unknown.status_code == 401 and unknown.json()["extra"]["code"] == "unknown_passkey"


async def test_a_credential_for_another_origin_is_refused(world):
    tokens = await world.sign_in(world.phone(Role.POLICE))
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    options = (await world.client.post("/api/auth/passkeys/registration-options", headers=auth)).json()
    phishing = SoftKey("https://anju.example.evil").create(options)
    refused = await world.client.post("/api/auth/passkeys", json={"credential": phishing}, headers=auth)
    assert refused.status_code == 422 and refused.json()["extra"]["code"] == "invalid_passkey"


async def test_garbage_credentials_are_4xx(world):
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    await world.client.post("/api/auth/passkeys/registration-options", headers=auth)
    response = await world.client.post("/api/auth/passkeys", json={"credential": {"id": 5}}, headers=auth)
    assert response.status_code == 422
