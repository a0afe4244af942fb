"""Sign-in by one-time code, access/refresh tokens, staff accounts, and the caller's principal."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

import jwt
import msgspec

from backend.accounts.tables import Account, Passkey, RefreshToken, StaffScope
from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.errors import Invalid, NotFound, TooMany, Unauthorized
from backend.keys import token_digest
from backend.registry import service as registry
from backend.registry.tables import Residency
from roles import Action, Principal, Role, Target, authorize
from roles.matrix import STAFF_ROLES

PHONE = re.compile(r"^1[3-9]\d{9}$")
ISSUER = "anju"
CODE_RESEND_SECONDS = 60


class AccountView(msgspec.Struct):
    id: int
    name: str
    phone: str
    role: Role
    has_passkey: bool
    passkey_required: bool


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    account: AccountView
    token_type: str = "Bearer"


def check_phone(phone: str) -> str:
    if not PHONE.match(phone):
        raise Invalid("invalid_phone", "Phone must be an 11-digit mainland mobile number", field="phone")
    return phone


async def send_code(ctx: Context, phone: str, ip: str) -> int:
    """Text a one-time code; returns its lifetime in seconds."""
    check_phone(phone)
    if await ctx.store.hit(f"otp-ip:{ip}", 3600) > 30:
        raise TooMany("rate_limited", "Too many codes requested from this address; try later")
    if await ctx.store.hit(f"otp-resend:{phone}", CODE_RESEND_SECONDS) > 1:
        raise TooMany("rate_limited", f"Wait {CODE_RESEND_SECONDS} seconds before asking for another code")
    code = ctx.settings.demo_code if ctx.settings.demo else f"{secrets.randbelow(10**6):06d}"
    ttl = ctx.settings.otp_minutes * 60
    await ctx.store.put(f"otp:{phone}", token_digest(code), ttl)
    await ctx.store.delete(f"otp-tries:{phone}")
    await ctx.sms.send(phone, f"【安居】验证码 {code}，{ctx.settings.otp_minutes} 分钟内有效。")
    return ttl


async def sign_in_with_code(ctx: Context, phone: str, code: str) -> TokenPair:
    check_phone(phone)
    expected = await ctx.store.get(f"otp:{phone}")
    if expected is None:
        raise Unauthorized("code_expired", "No valid code for this phone; request a new one")
    if not hmac.compare_digest(expected, token_digest(code)):
        if (
            await ctx.store.hit(f"otp-tries:{phone}", ctx.settings.otp_minutes * 60)
            >= ctx.settings.otp_max_attempts
        ):
            await ctx.store.delete(f"otp:{phone}")
        raise Unauthorized("wrong_code", "The code is not correct")
    # The code is spent; the resend pause only guards an outstanding code against SMS flooding.
    await ctx.store.delete(f"otp:{phone}")
    await ctx.store.delete(f"otp-resend:{phone}")
    account = await Account.objects().get(Account.phone == phone)
    if account is None:
        async with transaction(Account._meta.db):
            account = Account(phone=phone, name="", role=Role.RESIDENT)
            await account.save()
            await audit.record(
                None, "create_account", f"account:{account.id}", detail={"role": Role.RESIDENT}
            )
            await registry.link_account(ctx, account.id, phone)
    return await issue_tokens(ctx, account, family=secrets.token_hex(16))


async def issue_tokens(ctx: Context, account: Account, family: str) -> TokenPair:
    if not account.active:
        raise Unauthorized("account_disabled", "This account is disabled")
    view = await account_view(account)
    refresh = secrets.token_urlsafe(32)
    await RefreshToken(
        account=account.id,
        family=family,
        token_hash=token_digest(refresh),
        expires_at=datetime.now(UTC) + timedelta(days=ctx.settings.refresh_token_days),
    ).save()
    lifetime = ctx.settings.access_token_minutes * 60
    return TokenPair(
        access_token=await _access_token(ctx, account, view.has_passkey, lifetime),
        refresh_token=refresh,
        expires_in=lifetime,
        account=view,
    )


async def _access_token(ctx: Context, account: Account, has_passkey: bool, lifetime: int) -> str:
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
        "pk": has_passkey,
        "iat": now,
        "exp": now + timedelta(seconds=lifetime),
    }
    return jwt.encode(claims, ctx.keys.signing_key, algorithm="EdDSA")


async def account_view(account: Account) -> AccountView:
    has_passkey = await Passkey.exists().where(Passkey.account == account.id)
    role = Role(account.role)
    return AccountView(
        id=account.id,
        name=account.name,
        phone=account.phone,
        role=role,
        has_passkey=has_passkey,
        passkey_required=Principal(
            account_id=account.id, role=role, has_passkey=has_passkey
        ).must_enrol_passkey,
    )


async def refresh(ctx: Context, token: str) -> TokenPair:
    """Rotate: each refresh token works once; reuse revokes its whole family (likely theft)."""
    row = await RefreshToken.objects().get(RefreshToken.token_hash == token_digest(token))
    if row is None or row.revoked_at or row.expires_at < datetime.now(UTC):
        raise Unauthorized("invalid_refresh_token", "Sign in again")
    # Claiming with a conditional update makes two concurrent refreshes with one token a reuse.
    claimed = (
        await RefreshToken.update({RefreshToken.used_at: datetime.now(UTC)})
        .where((RefreshToken.id == row.id) & RefreshToken.used_at.is_null())
        .returning(RefreshToken.id)
    )
    if not claimed:
        await revoke_family(row.family)
        raise Unauthorized("invalid_refresh_token", "Sign in again")
    account = await Account.objects().get(Account.id == row.account)
    return await issue_tokens(ctx, account, family=row.family)


async def revoke_family(family: str) -> None:
    await RefreshToken.update({RefreshToken.revoked_at: datetime.now(UTC)}).where(
        (RefreshToken.family == family) & RefreshToken.revoked_at.is_null()
    )


async def sign_out(token: str) -> None:
    row = await RefreshToken.objects().get(RefreshToken.token_hash == token_digest(token))
    if row is not None:
        await revoke_family(row.family)


async def principal_from_token(ctx: Context, token: str) -> Principal:
    try:
        claims = jwt.decode(token, ctx.keys.verifying_key, algorithms=["EdDSA"], issuer=ISSUER)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token_expired", "Access token expired; refresh it") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid_token", "Access token is not valid") from None
    account_id, role = int(claims["sub"]), Role(claims["role"])
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
    )


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


class StaffCreate(msgspec.Struct, forbid_unknown_fields=True):
    phone: str
    name: str
    role: Role
    community_ids: list[int] = []
    district_ids: list[int] = []


async def create_staff(
    who: Principal, data: StaffCreate, district_of: dict[int, int], ip: str
) -> AccountView:
    """An admin creates a staff account in communities (or districts) the admin manages."""
    check_phone(data.phone)
    if data.role not in STAFF_ROLES:
        raise Invalid("invalid_role", "Staff accounts need a staff role", field="role")
    if not data.name.strip() or len(data.name) > 50:
        raise Invalid("invalid_name", "Name must be 1-50 characters", field="name")
    if not data.community_ids and not data.district_ids:
        raise Invalid("no_scope", "Assign at least one community or district", field="community_ids")
    for community_id in data.community_ids:
        if community_id not in district_of:
            raise NotFound("unknown_community", f"No community {community_id}")
        authorize(
            who, Action.MANAGE_STAFF, Target(community_id=community_id, district_id=district_of[community_id])
        )
    for district_id in data.district_ids:
        authorize(who, Action.MANAGE_STAFF, Target(district_id=district_id))
    async with transaction(Account._meta.db):
        if await Account.exists().where(Account.phone == data.phone):
            raise Invalid("phone_taken", "An account with this phone exists", field="phone")
        account = Account(phone=data.phone, name=data.name.strip(), role=data.role, created_by=who.account_id)
        await account.save()
        scopes = [StaffScope(account=account.id, community=c) for c in data.community_ids]
        scopes += [StaffScope(account=account.id, district=d) for d in data.district_ids]
        await StaffScope.insert(*scopes)
        await audit.record(who, "create_staff", f"account:{account.id}", ip=ip, detail={"role": data.role})
    return await account_view(account)
