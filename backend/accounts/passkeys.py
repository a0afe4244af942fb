"""Passkeys (WebAuthn): enrolment for a signed-in account and discoverable sign-in."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import msgspec
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from backend.accounts.service import (
    PASSKEY,
    Session,
    actor,
    bump_token_version,
    has_passkey,
    notify,
    revoke_all_sessions,
    start_session,
)
from backend.accounts.tables import Account, Passkey
from backend.audit import service as audit
from backend.context import Context
from backend.errors import Invalid, NotFound, Unauthorized
from roles import Action, Principal, authorize

CHALLENGE_TTL = 300


class AuthenticationOptions(msgspec.Struct):
    ticket: str
    options: dict[str, Any]


class PasskeyView(msgspec.Struct):
    id: int
    created_at: datetime
    transports: str


async def _authorize_enrolment(who: Principal) -> None:
    """Judged on the passkeys the account has now, not when its token was issued:
    a code session that predates the first enrolment must not add a second key."""
    authorize(
        msgspec.structs.replace(who, has_passkey=await has_passkey(who.account_id or 0)), Action.ENROL_PASSKEY
    )


async def registration_options(ctx: Context, who: Principal) -> dict[str, Any]:
    await _authorize_enrolment(who)
    account = await Account.objects().get(Account.id == who.account_id)
    existing = await Passkey.select(Passkey.credential_id).where(Passkey.account == account.id)
    options = generate_registration_options(
        rp_id=ctx.settings.rp_id,
        rp_name=ctx.settings.rp_name,
        user_id=str(account.id).encode(),
        user_name=account.phone,
        user_display_name=account.name or account.phone,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(row["credential_id"])) for row in existing
        ],
    )
    await ctx.store.put(f"pk-reg:{account.id}", bytes_to_base64url(options.challenge), CHALLENGE_TTL)
    return msgspec.json.decode(options_to_json(options))


async def enrol(ctx: Context, who: Principal, credential: dict[str, Any], ip: str) -> Session:
    """Store the new passkey and start a fresh passkey session (the key was just verified, with UV)."""
    await _authorize_enrolment(who)
    challenge = await ctx.store.take(f"pk-reg:{who.account_id}")
    if challenge is None:
        raise Invalid("challenge_expired", "Passkey enrolment timed out; try again")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=ctx.settings.rp_id,
            expected_origin=ctx.settings.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise Invalid("invalid_passkey", f"The passkey could not be verified: {exc}") from None
    transports = _known_transports(credential.get("response", {}).get("transports"))
    await Passkey(
        account=who.account_id,
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=",".join(transports),
    ).save()
    await audit.record(who, "enrol_passkey", f"account:{who.account_id}", ip=ip)
    await notify(ctx, who.account_id, "添加了一个通行密钥")
    account = await Account.objects().get(Account.id == who.account_id)
    return await start_session(ctx, account, PASSKEY)


def _known_transports(claimed: Any) -> list[str]:
    """Only the transports WebAuthn defines: the browser's list is unsigned, so anything else is noise."""
    known = {transport.value for transport in AuthenticatorTransport}
    return [t for t in claimed if t in known] if isinstance(claimed, list) else []


async def authentication_options(ctx: Context) -> AuthenticationOptions:
    options = generate_authentication_options(
        rp_id=ctx.settings.rp_id, user_verification=UserVerificationRequirement.REQUIRED
    )
    ticket = secrets.token_urlsafe(16)
    await ctx.store.put(f"pk-auth:{ticket}", bytes_to_base64url(options.challenge), CHALLENGE_TTL)
    return AuthenticationOptions(ticket=ticket, options=msgspec.json.decode(options_to_json(options)))


async def authenticate(ctx: Context, ticket: str, credential: dict[str, Any], ip: str) -> Session:
    passkey = await Passkey.objects().get(Passkey.credential_id == str(credential.get("id", "")))
    subject = f"account:{passkey.account}" if passkey else "passkey:unknown"
    try:
        verified_count = await _verify_assertion(ctx, ticket, credential, passkey)
    except Unauthorized as refused:
        detail = {"method": PASSKEY, "reason": refused.code}
        await audit.record(None, "sign_in_refused", subject, ip=ip, detail=detail)
        raise
    await Passkey.update({Passkey.sign_count: verified_count}).where(Passkey.id == passkey.id)
    account = await Account.objects().get(Account.id == passkey.account)
    session = await start_session(ctx, account, PASSKEY)
    await audit.record(actor(account), "sign_in", subject, ip=ip, detail={"method": PASSKEY})
    return session


async def _verify_assertion(
    ctx: Context, ticket: str, credential: dict[str, Any], passkey: Passkey | None
) -> int:
    """The assertion answers this ticket's challenge with a registered key; returns its new sign count."""
    challenge = await ctx.store.take(f"pk-auth:{ticket}")
    if challenge is None:
        raise Unauthorized("challenge_expired", "Passkey sign-in timed out; try again")
    if passkey is None:
        raise Unauthorized("unknown_passkey", "This passkey is not registered")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=ctx.settings.rp_id,
            expected_origin=ctx.settings.origin,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise Unauthorized("invalid_passkey", f"The passkey could not be verified: {exc}") from None
    return verified.new_sign_count


async def list_own(who: Principal) -> list[PasskeyView]:
    authorize(who, Action.MANAGE_OWN_PASSKEYS)
    rows = await Passkey.select(Passkey.id, Passkey.created_at, Passkey.transports).where(
        Passkey.account == who.account_id
    )
    return [PasskeyView(**row) for row in rows]


async def remove_own(ctx: Context, who: Principal, passkey_id: int, ip: str) -> None:
    """Remove a key (lost, or no longer trusted): every session of the account ends with it,
    since any of them may have been signed in with that key."""
    authorize(who, Action.MANAGE_OWN_PASSKEYS)
    removed = (
        await Passkey.delete()
        .where((Passkey.id == passkey_id) & (Passkey.account == who.account_id))
        .returning(Passkey.id)
    )
    if not removed:
        raise NotFound("unknown_passkey", f"No passkey {passkey_id} on this account")
    await audit.record(
        who, "remove_passkey", f"account:{who.account_id}", ip=ip, detail={"passkey": passkey_id}
    )
    await bump_token_version(ctx, who.account_id)
    await revoke_all_sessions(ctx, who.account_id)
    await notify(ctx, who.account_id, "删除了一个通行密钥")
