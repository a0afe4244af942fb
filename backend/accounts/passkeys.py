"""Passkeys (WebAuthn): enrolment for a signed-in account and discoverable sign-in."""

from __future__ import annotations

import secrets
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
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from backend.accounts.service import TokenPair, issue_tokens
from backend.accounts.tables import Account, Passkey
from backend.audit import service as audit
from backend.context import Context
from backend.errors import Invalid, Unauthorized
from roles import Action, Principal, authorize

CHALLENGE_TTL = 300


class AuthenticationOptions(msgspec.Struct):
    ticket: str
    options: dict[str, Any]


async def registration_options(ctx: Context, who: Principal) -> dict[str, Any]:
    authorize(who, Action.ENROL_PASSKEY)
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


async def enrol(ctx: Context, who: Principal, credential: dict[str, Any], ip: str) -> TokenPair:
    """Store the new passkey and start a fresh session whose token knows about it."""
    authorize(who, Action.ENROL_PASSKEY)
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
    transports = credential.get("response", {}).get("transports") or []
    await Passkey(
        account=who.account_id,
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=",".join(str(t) for t in transports)[:200],
    ).save()
    await audit.record(who, "enrol_passkey", f"account:{who.account_id}", ip=ip)
    account = await Account.objects().get(Account.id == who.account_id)
    return await issue_tokens(ctx, account, family=secrets.token_hex(16))


async def authentication_options(ctx: Context) -> AuthenticationOptions:
    options = generate_authentication_options(
        rp_id=ctx.settings.rp_id, user_verification=UserVerificationRequirement.REQUIRED
    )
    ticket = secrets.token_urlsafe(16)
    await ctx.store.put(f"pk-auth:{ticket}", bytes_to_base64url(options.challenge), CHALLENGE_TTL)
    return AuthenticationOptions(ticket=ticket, options=msgspec.json.decode(options_to_json(options)))


async def authenticate(ctx: Context, ticket: str, credential: dict[str, Any]) -> TokenPair:
    challenge = await ctx.store.take(f"pk-auth:{ticket}")
    if challenge is None:
        raise Unauthorized("challenge_expired", "Passkey sign-in timed out; try again")
    passkey = await Passkey.objects().get(Passkey.credential_id == str(credential.get("id", "")))
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
    await Passkey.update({Passkey.sign_count: verified.new_sign_count}).where(Passkey.id == passkey.id)
    account = await Account.objects().get(Account.id == passkey.account)
    return await issue_tokens(ctx, account, family=secrets.token_hex(16))
