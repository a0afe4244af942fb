"""Sign-in by one-time code, sessions (access/refresh tokens), and the caller's principal."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from datetime import UTC, datetime, timedelta

import jwt
import msgspec

from backend.accounts.tables import Account, Passkey, RefreshToken, StaffScope
from backend.accounts.verified import has_expired
from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.errors import Invalid, TooMany, Unauthorized
from backend.net import spend
from backend.registry import service as registry
from backend.registry.tables import Residency
from backend.sms import SmsUnavailable, code_message, notice_message
from roles import Principal, Role
from roles.matrix import may_sign_in_with_code

PHONE = re.compile(r"^1[3-9]\d{9}$")
ISSUER = "anju"
CODE_RESEND_SECONDS = 60
OTP, PASSKEY = "otp", "passkey"  # the access token's ``amr``: how its session was authenticated
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "ver"]
ENDED = "ended"
log = logging.getLogger("anju.accounts")


class AccountView(msgspec.Struct):
    id: int
    name: str
    phone: str
    role: Role
    has_passkey: bool
    passkey_required: bool


class TokenPair(msgspec.Struct):
    """What a sign-in answers; the refresh token travels only in its HttpOnly cookie."""

    access_token: str
    expires_in: int
    account: AccountView
    token_type: str = "Bearer"


class Session(msgspec.Struct):
    tokens: TokenPair
    refresh_token: str


def check_phone(phone: str) -> str:
    if not PHONE.match(phone):
        raise Invalid("invalid_phone", "Phone must be an 11-digit mainland mobile number", field="phone")
    return phone


def masked_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


def actor(account: Account) -> Principal:
    """The account as the actor of its own sign-in's audit entry."""
    return Principal(account_id=account.id, role=Role(account.role))


async def send_code(ctx: Context, phone: str, ip: str) -> int:
    """Text a one-time code; returns its lifetime in seconds."""
    check_phone(phone)
    budget = ctx.settings.codes_per_address_per_hour
    await spend(ctx, "otp", ip, budget=budget, seconds=3600, what="codes requested")
    if await ctx.store.hit(f"otp-resend:{phone}", CODE_RESEND_SECONDS) > 1:
        raise TooMany("rate_limited", f"Wait {CODE_RESEND_SECONDS} seconds before asking for another code")
    code = ctx.settings.demo_code if ctx.settings.demo else f"{secrets.randbelow(10**6):06d}"
    ttl = ctx.settings.otp_minutes * 60
    await ctx.store.put(f"otp:{phone}", ctx.keys.secret_digest(code), ttl)
    await ctx.store.delete(f"otp-tries:{phone}")
    await ctx.sms.send(phone, code_message(code, ctx.settings.otp_minutes))
    return ttl


CODE_REFUSALS = {
    "code_expired": "No valid code for this phone; request a new one",
    "wrong_code": "The code is not correct",
}


async def _spend_code(ctx: Context, phone: str, code: str) -> str | None:
    """Check and burn the code; returns why it was refused, or None when it was right.

    The attempt is counted (one atomic increment) before any comparison, so parallel
    guesses cannot outrun the limit: at most ``otp_max_attempts`` are ever compared.
    """
    limit = ctx.settings.otp_max_attempts
    tries = await ctx.store.hit(f"otp-tries:{phone}", ctx.settings.otp_minutes * 60)
    if tries > limit:
        await ctx.store.delete(f"otp:{phone}")
        return "code_expired"
    expected = await ctx.store.get(f"otp:{phone}")
    if expected is None:
        return "code_expired"
    if not hmac.compare_digest(expected, ctx.keys.secret_digest(code)):
        if tries == limit:
            await ctx.store.delete(f"otp:{phone}")
        return "wrong_code"
    if await ctx.store.take(f"otp:{phone}") != expected:  # a parallel request spent it first
        return "code_expired"
    # The resend pause only guards an outstanding code against SMS flooding.
    await ctx.store.delete(f"otp-resend:{phone}")
    return None


async def sign_in_with_code(ctx: Context, phone: str, code: str, ip: str) -> Session:
    check_phone(phone)
    account = await Account.objects().get(Account.phone == phone)
    subject = f"account:{account.id}" if account else f"phone:{masked_phone(phone)}"
    refusal = await _spend_code(ctx, phone, code)
    if refusal:
        await audit.record(None, "sign_in_refused", subject, ip=ip, detail={"method": OTP, "reason": refusal})
        raise Unauthorized(refusal, CODE_REFUSALS[refusal])
    if account is None:
        async with transaction(Account._meta.db):
            account = Account(phone=phone, name="", role=Role.RESIDENT)
            await account.save()
            await audit.record(
                None, "create_account", f"account:{account.id}", detail={"role": Role.RESIDENT}
            )
            await registry.link_account(ctx, account.id, phone)
        subject = f"account:{account.id}"
    elif not may_sign_in_with_code(Role(account.role), await has_passkey(account.id)):
        await audit.record(
            None, "sign_in_refused", subject, ip=ip, detail={"method": OTP, "reason": "passkey_required"}
        )
        raise Unauthorized("passkey_required", "This account signs in with its passkey")
    session = await start_session(ctx, account, OTP)
    await audit.record(actor(account), "sign_in", subject, ip=ip, detail={"method": OTP})
    return session


async def start_session(ctx: Context, account: Account, amr: str) -> Session:
    """A new refresh family (one sign-in) and its first token pair."""
    return await issue_tokens(ctx, account, family=secrets.token_hex(16), amr=amr)


async def issue_tokens(ctx: Context, account: Account, family: str, amr: str) -> Session:
    if not account.active:
        raise Unauthorized("account_disabled", "This account is disabled")
    view = await account_view(account)
    refresh = secrets.token_urlsafe(32)
    await RefreshToken(
        account=account.id,
        family=family,
        amr=amr,
        token_hash=ctx.keys.secret_digest(refresh),
        expires_at=datetime.now(UTC) + timedelta(days=ctx.settings.refresh_token_days),
    ).save()
    lifetime = access_lifetime(ctx)
    claims = {"pk": view.has_passkey, "amr": amr, "sid": family}
    return Session(
        tokens=TokenPair(
            access_token=await _access_token(ctx, account, claims, lifetime),
            expires_in=lifetime,
            account=view,
        ),
        refresh_token=refresh,
    )


def access_lifetime(ctx: Context) -> int:
    return ctx.settings.access_token_minutes * 60


async def _access_token(ctx: Context, account: Account, session: dict, lifetime: int) -> str:
    scopes = await StaffScope.select(StaffScope.community, StaffScope.district).where(
        StaffScope.account == account.id
    )
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "sub": str(account.id),
        "role": account.role,
        "com": sorted({s["community"] for s in scopes if s["community"]}),
        "dis": sorted({s["district"] for s in scopes if s["district"]}),
        "ver": account.token_version,
        **session,
        "iat": now,
        "exp": now + timedelta(seconds=lifetime),
    }
    return jwt.encode(claims, ctx.keys.signing_key, algorithm="EdDSA")


async def has_passkey(account_id: int) -> bool:
    return await Passkey.exists().where(Passkey.account == account_id)


async def account_view(account: Account) -> AccountView:
    enrolled = await has_passkey(account.id)
    role = Role(account.role)
    return AccountView(
        id=account.id,
        name=account.name,
        phone=account.phone,
        role=role,
        has_passkey=enrolled,
        passkey_required=Principal(account_id=account.id, role=role, has_passkey=enrolled).must_enrol_passkey,
    )


async def refresh(ctx: Context, token: str | None) -> Session:
    """Rotate: each refresh token works once; reuse revokes its whole family (likely theft)."""
    row = await _refresh_row(ctx, token)
    if row is None or row.revoked_at or row.expires_at < datetime.now(UTC):
        raise Unauthorized("invalid_refresh_token", "Sign in again")
    # The claim and its successor commit together: a failure in between (a database outage,
    # a locked SQLite file) leaves the token unused, so the client's retry is not taken for a
    # reuse that would end the session.
    async with transaction(RefreshToken._meta.db):
        # Claiming with a conditional update makes two concurrent refreshes with one token a reuse.
        claimed = (
            await RefreshToken.update({RefreshToken.used_at: datetime.now(UTC)})
            .where((RefreshToken.id == row.id) & RefreshToken.used_at.is_null())
            .returning(RefreshToken.id)
        )
        if claimed:
            account = await Account.objects().get(Account.id == row.account)
            return await issue_tokens(ctx, account, family=row.family, amr=row.amr)
    await revoke_family(ctx, row.family)
    raise Unauthorized("invalid_refresh_token", "Sign in again")


async def _refresh_row(ctx: Context, token: str | None) -> RefreshToken | None:
    if not token:
        return None
    return await RefreshToken.objects().get(RefreshToken.token_hash == ctx.keys.secret_digest(token))


async def revoke_family(ctx: Context, family: str) -> None:
    """End one sign-in: its refresh tokens, and at once the access tokens it issued."""
    await RefreshToken.update({RefreshToken.revoked_at: datetime.now(UTC)}).where(
        (RefreshToken.family == family) & RefreshToken.revoked_at.is_null()
    )
    await ctx.store.put(f"sid:{family}", ENDED, access_lifetime(ctx))


async def revoke_all_sessions(ctx: Context, account_id: int) -> None:
    families = await RefreshToken.select(RefreshToken.family).where(
        (RefreshToken.account == account_id) & RefreshToken.revoked_at.is_null()
    )
    for family in {row["family"] for row in families}:
        await revoke_family(ctx, family)


async def bump_token_version(ctx: Context, account_id: int) -> None:
    """Every access token issued to the account so far stops working (call after the change commits)."""
    await Account.update({Account.token_version: Account.token_version + 1}).where(Account.id == account_id)
    await ctx.store.put(f"ver:{account_id}", await _current_version(account_id), access_lifetime(ctx))


async def sign_out(ctx: Context, token: str | None, ip: str) -> None:
    row = await _refresh_row(ctx, token)
    if row is not None:
        await revoke_family(ctx, row.family)
        await audit.record(Principal(account_id=row.account), "sign_out", f"account:{row.account}", ip=ip)


async def notify(ctx: Context, account_id: int, event: str) -> None:
    """Tell the holder about a change to their sign-in; the change stands even if the text fails."""
    account = await Account.objects().get(Account.id == account_id)
    try:
        await ctx.sms.send(account.phone, notice_message(event))
    except SmsUnavailable:
        log.error("could not notify account %s of: %s", account_id, event)


async def principal_from_token(ctx: Context, token: str) -> Principal:
    claims = _verified_claims(ctx, token)
    try:
        account_id, role = int(claims["sub"]), Role(claims["role"])
    except (KeyError, ValueError):
        raise Unauthorized("invalid_token", "Access token is not valid") from None
    await _check_session(ctx, account_id, str(claims["sid"]), claims["ver"])
    homes = await _homes(account_id) if role is Role.RESIDENT else []
    return Principal(
        account_id=account_id,
        role=role,
        communities=frozenset(claims["com"]),
        districts=frozenset(claims["dis"]),
        houses=frozenset(h["house"] for h in homes),
        units=frozenset(h["unit"] for h in homes),
        buildings=frozenset(h["building"] for h in homes),
        home_communities=frozenset(h["community"] for h in homes),
        has_passkey=claims["pk"],
        passkey_session=claims.get("amr") == PASSKEY,
    )


def _verified_claims(ctx: Context, token: str) -> dict:
    """The token's claims, its signature checked once per token (cached), its expiry every time."""
    claims = ctx.verified_tokens.get(token)
    if claims is None:
        claims = _verify(ctx, token)
        ctx.verified_tokens.remember(token, claims)
    elif has_expired(claims):
        ctx.verified_tokens.forget(token)
        raise Unauthorized("token_expired", "Access token expired; refresh it")
    return claims


def _verify(ctx: Context, token: str) -> dict:
    try:
        return jwt.decode(
            token,
            ctx.keys.verifying_key,
            algorithms=["EdDSA"],
            issuer=ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token_expired", "Access token expired; refresh it") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid_token", "Access token is not valid") from None


async def _check_session(ctx: Context, account_id: int, sid: str, version: int) -> None:
    """The token's sign-in is still live and its account unchanged since it was issued.

    Both facts are cached in the short-lived store for an access token's lifetime (the
    writers above update the cache), so the database is read only on a cache miss.
    """
    ttl = access_lifetime(ctx)
    session, current = await ctx.store.get_many(f"sid:{sid}", f"ver:{account_id}")
    if session is None:
        ended = await RefreshToken.exists().where(
            (RefreshToken.family == sid) & RefreshToken.revoked_at.is_not_null()
        )
        session = ENDED if ended else "live"
        await ctx.store.put(f"sid:{sid}", session, ttl)
    if current is None:
        current = await _current_version(account_id)
        await ctx.store.put(f"ver:{account_id}", current, ttl)
    if session == ENDED or current != str(version):
        raise Unauthorized("session_ended", "This session has ended; sign in again")


async def _current_version(account_id: int) -> str:
    """The version live tokens must carry; ENDED for an unknown or disabled account."""
    row = await Account.select(Account.token_version, Account.active).where(Account.id == account_id).first()
    return str(row["token_version"]) if row and row["active"] else ENDED


# Read on every resident request (residencies change faster than tokens expire): one query.
# Only residencies registered for this very account count, never others of the same person.
HOMES_SQL = """
SELECT h.id AS house, h.unit, h.building, h.community
FROM residency r
JOIN house h ON h.id = r.house
WHERE r.account = {} AND r.status = 'verified'
"""


async def _homes(account_id: int) -> list[dict]:
    """Where the account verifiably lives; nothing while pending, after rejection or deregistration."""
    return await Residency.raw(HOMES_SQL, account_id)


async def account_names(ids: list[int]) -> dict[int, str]:
    """Accounts' display names by id (who handled an alarm…); unknown ids are absent."""
    if not ids:
        return {}
    rows = await Account.select(Account.id, Account.name).where(Account.id.is_in(ids))
    return {row["id"]: row["name"] for row in rows}
