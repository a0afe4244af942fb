"""Staff accounts: created, changed, disabled and their passkeys reset by a district admin."""

from __future__ import annotations

import msgspec

from backend.accounts.service import (
    AccountView,
    account_view,
    bump_token_version,
    check_phone,
    notify,
    revoke_all_sessions,
)
from backend.accounts.tables import Account, Passkey, StaffScope
from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.errors import Invalid, NotFound
from backend.ids import Id
from backend.registry.tables import Community
from backend.text import plain_text
from roles import Action, Principal, Role, Target, authorize
from roles.matrix import STAFF_ROLES


class StaffCreate(msgspec.Struct, forbid_unknown_fields=True):
    phone: str
    name: str
    role: Role
    community_ids: list[Id] = []
    district_ids: list[Id] = []


class StaffUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change; scopes given replace the account's scopes."""

    active: bool | None = None
    role: Role | None = None
    community_ids: list[Id] | None = None
    district_ids: list[Id] | None = None


class StaffOut(msgspec.Struct):
    id: int
    name: str
    phone: str
    role: Role
    active: bool
    community_ids: list[int]
    district_ids: list[int]


async def _authorize_scopes(
    who: Principal, action: Action, community_ids: list[int], district_ids: list[int]
) -> None:
    """The admin must hold ``action`` over every community and district involved."""
    rows = await Community.select(Community.id, Community.district).where(
        Community.id.is_in(community_ids or [-1])
    )
    district_of = {r["id"]: r["district"] for r in rows}
    for community_id in community_ids:
        if community_id not in district_of:
            raise NotFound("unknown_community", f"No community {community_id}")
        authorize(who, action, Target(community_id=community_id, district_id=district_of[community_id]))
    for district_id in district_ids:
        authorize(who, action, Target(district_id=district_id))


def _check_staff_role(role: Role) -> None:
    if role not in STAFF_ROLES:
        raise Invalid("invalid_role", "Staff accounts need a staff role", field="role")


def _check_scopes(community_ids: list[int], district_ids: list[int]) -> None:
    if not community_ids and not district_ids:
        raise Invalid("no_scope", "Assign at least one community or district", field="community_ids")


async def create_staff(who: Principal, data: StaffCreate, ip: str) -> AccountView:
    """An admin creates a staff account in communities (or districts) the admin manages."""
    check_phone(data.phone)
    _check_staff_role(data.role)
    name = plain_text(data.name, "name")
    if not name or len(name) > 50:
        raise Invalid("invalid_name", "Name must be 1-50 characters", field="name")
    _check_scopes(data.community_ids, data.district_ids)
    await _authorize_scopes(who, Action.MANAGE_STAFF, data.community_ids, data.district_ids)
    async with transaction(Account._meta.db):
        if await Account.exists().where(Account.phone == data.phone):
            raise Invalid("phone_taken", "An account with this phone exists", field="phone")
        account = Account(phone=data.phone, name=name, role=data.role, created_by=who.account_id)
        await account.save()
        await _set_scopes(account.id, data.community_ids, data.district_ids)
        await audit.record(who, "create_staff", f"account:{account.id}", ip=ip, detail={"role": data.role})
    return await account_view(account)


async def list_staff(who: Principal, community_id: int, ip: str) -> list[StaffOut]:
    """The staff accounts scoped to the community, with all their scopes (an audited read: phones)."""
    await _authorize_scopes(who, Action.MANAGE_STAFF, [community_id], [])
    here = StaffScope.select(StaffScope.account).where(StaffScope.community == community_id)
    accounts = await (
        Account.select(Account.id, Account.name, Account.phone, Account.role, Account.active)
        .where(Account.id.is_in(await here.output(as_list=True) or [-1]))
        .order_by(Account.id)
    )
    scopes = await StaffScope.select().where(StaffScope.account.is_in([a["id"] for a in accounts] or [-1]))
    await audit.record_read(who, "list_staff", f"community:{community_id}", community=community_id, ip=ip)
    return [
        StaffOut(
            **account,
            community_ids=[
                s["community"] for s in scopes if s["account"] == account["id"] and s["community"]
            ],
            district_ids=[s["district"] for s in scopes if s["account"] == account["id"] and s["district"]],
        )
        for account in accounts
    ]


async def _set_scopes(account_id: int, community_ids: list[int], district_ids: list[int]) -> None:
    scopes = [StaffScope(account=account_id, community=c) for c in community_ids]
    scopes += [StaffScope(account=account_id, district=d) for d in district_ids]
    await StaffScope.insert(*scopes)


async def _managed_staff(who: Principal, action: Action, account_id: int) -> tuple[Account, list, list]:
    """The staff account and its current scopes, once the admin is shown to manage all of them."""
    account = await Account.objects().get(Account.id == account_id)
    if account is None or account.role not in STAFF_ROLES:
        raise NotFound("unknown_staff", f"No staff account {account_id}")
    scopes = await StaffScope.select(StaffScope.community, StaffScope.district).where(
        StaffScope.account == account_id
    )
    communities = [s["community"] for s in scopes if s["community"]]
    districts = [s["district"] for s in scopes if s["district"]]
    await _authorize_scopes(who, action, communities, districts)
    return account, communities, districts


async def update_staff(
    ctx: Context, who: Principal, account_id: int, data: StaffUpdate, ip: str
) -> AccountView:
    """Disable, re-role or re-scope a staff account; its access tokens stop at once."""
    account, communities, districts = await _managed_staff(who, Action.MANAGE_STAFF, account_id)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
    if data.role is not None:
        _check_staff_role(data.role)
    scoped = data.community_ids is not None or data.district_ids is not None
    if scoped:
        communities = communities if data.community_ids is None else data.community_ids
        districts = districts if data.district_ids is None else data.district_ids
        _check_scopes(communities, districts)
        await _authorize_scopes(who, Action.MANAGE_STAFF, communities, districts)
    async with transaction(Account._meta.db):
        fields = {Account.active: data.active, Account.role: data.role}
        values = {column: value for column, value in fields.items() if value is not None}
        if values:
            await Account.update(values).where(Account.id == account_id)
        if scoped:
            await StaffScope.delete().where(StaffScope.account == account_id)
            await _set_scopes(account_id, communities, districts)
        await audit.record(who, "update_staff", f"account:{account_id}", ip=ip, detail=changes)
    await bump_token_version(ctx, account_id)
    if data.active is False:
        await revoke_all_sessions(ctx, account_id)
    return await account_view(await Account.objects().get(Account.id == account.id))


async def reset_passkeys(ctx: Context, who: Principal, account_id: int, ip: str) -> None:
    """Recovery for lost keys: the holder's passkeys and sessions end; a phone code then enrols anew."""
    await _managed_staff(who, Action.RESET_PASSKEYS, account_id)
    if account_id == who.account_id:
        raise Invalid("own_account", "Another administrator resets your passkeys")
    async with transaction(Account._meta.db):
        removed = await Passkey.delete().where(Passkey.account == account_id).returning(Passkey.id)
        await audit.record(
            who, "reset_passkeys", f"account:{account_id}", ip=ip, detail={"removed": len(removed)}
        )
    await bump_token_version(ctx, account_id)
    await revoke_all_sessions(ctx, account_id)
    await notify(ctx, account_id, "的通行密钥已被管理员重置")
