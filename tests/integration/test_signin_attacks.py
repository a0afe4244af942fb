"""Sign-in attacked: code-only police, planted passkeys, tokens that outlive their session, OTP guessing."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, datetime

import jwt
import msgspec
import pytest

from backend.accounts.tables import Account
from backend.app import create_app
from backend.audit.tables import AuditEntry
from backend.settings import SettingsError
from roles import Role
from tests.softkey import SoftKey

FULL_ID = re.compile(r"^\d{17}[\dX]$")
REFRESH = "anju_refresh"


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def account_id(phone: str) -> int:
    return (await Account.objects().get(Account.phone == phone)).id


async def full_ids_seen(world, headers: dict) -> list[str]:
    """Every full ID number a scan of the home flat shows to these headers."""
    plate = await world.house_plate(world.home_house)
    view = await world.client.get(f"/api/scan/{plate}", headers=headers)
    return [m for m in re.findall(r'"id_number":\s*"([^"]+)"', view.text) if FULL_ID.match(m)]


async def me_status(world, headers: dict) -> int:
    return (await world.client.get("/api/me", headers=headers)).status_code


async def test_police_with_a_passkey_cannot_sign_in_by_code_alone(world):
    await world.headers(Role.POLICE)  # enrolled, as every officer is after their first day
    stolen_code = await world.code_sign_in(world.phone(Role.POLICE))
    if stolen_code.status_code == 200:
        assert await full_ids_seen(world, bearer(stolen_code.json())) == []
    assert stolen_code.status_code == 401
    assert stolen_code.json()["extra"]["code"] == "passkey_required"
    assert "access_token" not in stolen_code.json() and REFRESH not in stolen_code.cookies


async def test_a_police_code_session_shows_no_full_id_numbers(world):
    """Before enrolment the code session exists, but reaches nothing beyond its own account."""
    code_session = await world.sign_in(world.phone(Role.POLICE))
    assert await full_ids_seen(world, bearer(code_session)) == []
    passkey_session = await world.headers(Role.POLICE)
    assert await full_ids_seen(world, passkey_session)  # the passkey session does


async def test_a_second_passkey_cannot_be_planted_from_a_code_session(world):
    phone = world.phone(Role.WARDEN)
    await world.enrol_passkey((await world.sign_in(phone))["access_token"])
    code_session = bearer(await world.sign_in(phone))
    options = await world.client.post("/api/auth/passkeys/registration-options", headers=code_session)
    assert options.status_code == 403
    assert options.json()["extra"]["code"] == "passkey_session_required"


async def test_a_stale_police_code_session_cannot_add_a_second_passkey(world):
    """The attacker's code session predates the officer's enrolment and still says "no passkey"."""
    phone = world.phone(Role.POLICE)
    attacker = bearer(await world.sign_in(phone))
    await world.headers(Role.POLICE)  # the officer enrols in their own session
    options = await world.client.post("/api/auth/passkeys/registration-options", headers=attacker)
    assert options.status_code == 403


async def test_access_token_dies_at_logout(world):
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    assert await me_status(world, bearer(tokens)) == 200
    assert (await world.client.post("/api/auth/logout")).status_code == 204
    assert await me_status(world, bearer(tokens)) == 401


async def test_access_token_dies_when_the_refresh_family_is_revoked_by_reuse(world):
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    stolen = world.client.cookies[REFRESH]
    assert (await world.client.post("/api/auth/refresh")).status_code == 200
    use_refresh(world, stolen)
    assert (await world.client.post("/api/auth/refresh")).status_code == 401  # reuse: theft
    assert await me_status(world, bearer(tokens)) == 401


def use_refresh(world, token: str) -> None:
    world.client.cookies.set(REFRESH, token, domain="anju.local", path="/api/auth")


async def _staff_change(world, body: dict) -> dict:
    """A warden's live session, then the admin's change; returns the session's tokens."""
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    tokens["refresh"] = world.client.cookies[REFRESH]
    assert await me_status(world, bearer(tokens)) == 200
    warden = await account_id(world.phone(Role.WARDEN))
    admin = await world.headers(Role.DISTRICT_ADMIN)
    changed = await world.client.patch(f"/api/staff/{warden}", json=body, headers=admin)
    assert changed.status_code == 200, changed.text
    return tokens


@pytest.mark.parametrize(
    "change",
    [{"active": False}, {"role": "property"}, {"community_ids": ["other"]}],
    ids=["disabled", "role", "scope"],
)
async def test_access_token_dies_when_the_account_changes(world, change):
    body = {k: [world.other] if v == ["other"] else v for k, v in change.items()}
    tokens = await _staff_change(world, body)
    response = await world.client.get("/api/verification-queue", headers=bearer(tokens))
    assert response.status_code == 401 and response.json()["extra"]["code"] == "session_ended"


async def test_a_disabled_account_cannot_refresh_or_sign_in(world):
    tokens = await _staff_change(world, {"active": False})
    use_refresh(world, tokens["refresh"])
    assert (await world.client.post("/api/auth/refresh")).status_code == 401
    assert (await world.code_sign_in(world.phone(Role.WARDEN))).status_code == 401


def _forge(world, **claims) -> dict[str, str]:
    now = datetime.now(UTC)
    base = {"iss": "anju", "role": "warden", "com": [world.home], "dis": [], "pk": False, "iat": now}
    token = jwt.encode({**base, **claims}, world.ctx.keys.signing_key, algorithm="EdDSA")
    return {"Authorization": f"Bearer {token}"}


async def test_a_signed_token_for_an_unknown_account_is_401(world):
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    headers = _forge(world, **{**claims, "sub": "999999", "iat": datetime.now(UTC)})
    response = await world.client.get("/api/me", headers=headers)
    assert response.status_code == 401


async def test_a_token_without_expiry_is_401(world):
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    del claims["exp"]
    response = await world.client.get("/api/me", headers=_forge(world, **claims))
    assert response.status_code == 401 and response.json()["extra"]["code"] == "invalid_token"


async def test_parallel_code_guesses_cannot_beat_the_attempt_limit(world):
    """On Redis (the PostgreSQL run) today's check-then-count lets all 60 guesses be compared."""
    phone = "13512345678"
    assert (await world.client.post("/api/auth/code", json={"phone": phone})).status_code == 202
    right = re.search(r"\d{6}", world.ctx.sms.outbox[-1][1])[0]
    wrong = [f"{(int(right) + n) % 10**6:06d}" for n in range(1, 61)]
    answers = await asyncio.gather(
        *(world.client.post("/api/auth/token", json={"phone": phone, "code": code}) for code in wrong)
    )
    compared = [a for a in answers if a.status_code == 401 and a.json()["extra"]["code"] == "wrong_code"]
    assert len(compared) <= world.ctx.settings.otp_max_attempts
    late = await world.client.post("/api/auth/token", json={"phone": phone, "code": right})
    assert late.status_code == 401


async def test_stored_codes_are_not_a_bare_sha256(world):
    phone = "13512345678"
    await world.client.post("/api/auth/code", json={"phone": phone})
    code = re.search(r"\d{6}", world.ctx.sms.outbox[-1][1])[0]
    stored = await world.ctx.store.get(f"otp:{phone}")
    assert stored and stored != hashlib.sha256(code.encode()).hexdigest() and code not in stored


def test_the_log_sender_is_refused_outside_demo(settings):
    with pytest.raises(SettingsError, match="ANJU_SMS_SENDER"):
        create_app(_with(settings, sms_sender="log", demo=False))
    create_app(_with(settings, sms_sender="log", demo=True))  # the demo keeps its log sender


def _with(settings, **changes):
    return msgspec.structs.replace(settings, **changes)


async def test_the_refresh_token_is_only_in_a_strict_httponly_cookie(world):
    response = await world.code_sign_in(world.phone(Role.WARDEN))
    assert response.status_code == 200 and "refresh_token" not in response.json()
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert cookie.startswith(f"{REFRESH}=")
    assert "httponly" in attributes and "secure" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/api/auth"


async def _audited(action: str, subject: str) -> list[dict]:
    return await AuditEntry.select().where((AuditEntry.action == action) & (AuditEntry.subject == subject))


async def test_sign_ins_and_refusals_are_audited(world):
    phone = world.phone(Role.WARDEN)
    warden = f"account:{await account_id(phone)}"
    await world.client.post("/api/auth/code", json={"phone": phone})
    code = re.search(r"\d{6}", world.ctx.sms.outbox[-1][1])[0]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert (
        await world.client.post("/api/auth/token", json={"phone": phone, "code": wrong})
    ).status_code == 401
    assert (
        await world.client.post("/api/auth/token", json={"phone": phone, "code": code})
    ).status_code == 200
    assert (await world.client.post("/api/auth/logout")).status_code == 204
    refused = await _audited("sign_in_refused", warden)
    assert refused and refused[0]["ip"] == "127.0.0.1"
    assert [e["actor"] for e in await _audited("sign_in", warden)] == [int(warden.split(":")[1])]
    assert await _audited("sign_out", warden)
    await world.headers(Role.POLICE)
    police = f"account:{await account_id(world.phone(Role.POLICE))}"
    methods = {e["detail"] for e in await _audited("sign_in", police)}
    assert any("passkey" in str(m) for m in methods)
    await world.passkey_sign_in(SoftKey(world.ctx.settings.origin))  # a key nobody enrolled
    assert await _audited("sign_in_refused", "passkey:unknown")


async def test_passkeys_are_listed_and_removed_only_from_a_passkey_session(world):
    police_phone = world.phone(Role.POLICE)
    passkey_session = await world.headers(Role.POLICE)
    listed = await world.client.get("/api/auth/passkeys", headers=passkey_session)
    assert listed.status_code == 200 and len(listed.json()) == 1
    warden = bearer(await world.sign_in(world.phone(Role.WARDEN)))
    assert (await world.client.get("/api/auth/passkeys", headers=warden)).status_code == 403
    removed = await world.client.delete(
        f"/api/auth/passkeys/{listed.json()[0]['id']}", headers=passkey_session
    )
    assert removed.status_code == 204
    assert world.ctx.sms.outbox[-1][0] == police_phone and "删除" in world.ctx.sms.outbox[-1][1]
    # Any session may have come from the removed key: all of them end.
    assert await me_status(world, passkey_session) == 401


async def test_adding_a_passkey_notifies_the_holder(world):
    phone = world.phone(Role.RESIDENT)
    await world.enrol_passkey((await world.sign_in(phone))["access_token"])
    assert world.ctx.sms.outbox[-1][0] == phone and "添加" in world.ctx.sms.outbox[-1][1]


async def test_an_admin_resets_a_lost_passkey_and_the_officer_enrols_again(world):
    phone = world.phone(Role.POLICE)
    old_session = await world.headers(Role.POLICE)
    lost_key = world.keys[phone]
    officer = await account_id(phone)
    admin = await world.headers(Role.DISTRICT_ADMIN)
    reset = await world.client.post(f"/api/staff/{officer}/passkeys/reset", headers=admin)
    assert reset.status_code == 204
    assert await me_status(world, old_session) == 401
    assert (await world.passkey_sign_in(lost_key)).status_code == 401
    assert "重置" in world.ctx.sms.outbox[-1][1]
    first = await world.sign_in(phone)  # the code works again, for a first enrolment only
    assert first["account"]["passkey_required"] is True
    enrolled = await world.enrol_passkey(first["access_token"])
    assert enrolled["account"]["has_passkey"]
    entries = await _audited("reset_passkeys", f"account:{officer}")
    assert entries and entries[0]["actor"] == await account_id(world.phone(Role.DISTRICT_ADMIN))


async def test_made_up_transports_are_not_stored(world):
    """The transports list is unsigned browser input: a NUL in it was a 500 on PostgreSQL."""
    tokens = await world.sign_in(world.phone(Role.WARDEN))
    options = await world.client.post("/api/auth/passkeys/registration-options", headers=bearer(tokens))
    credential = SoftKey(world.ctx.settings.origin).create(options.json())
    credential["response"]["transports"] = ["internal", "usb\x00<script>", 7]
    enrolled = await world.client.post(
        "/api/auth/passkeys", json={"credential": credential}, headers=bearer(tokens)
    )
    assert enrolled.status_code == 201, enrolled.text
    listed = await world.client.get("/api/auth/passkeys", headers=bearer(enrolled.json()))
    assert [key["transports"] for key in listed.json()] == ["internal"]
