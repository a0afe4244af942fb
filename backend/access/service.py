"""Who may open which door, phone door opening, and staff grants."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import msgspec

from backend.access.schemas import DoorOpened, DoorOut, GrantIn, GrantListed, GrantOut
from backend.access.tables import AccessGrant, AccessRecord, Door
from backend.accounts.tables import Account
from backend.audit import service as audit
from backend.context import Context
from backend.db import placeholders, transaction
from backend.devices.commands import CommandTarget
from backend.errors import DomainError, Invalid, NotFound
from backend.instruments import DOOR_OPEN_SECONDS, timed_outcome
from backend.registry import codes
from backend.registry import service as registry
from backend.text import plain_text
from device_bridge.protocol import AccessMethod, AckData, Direction
from roles import Action, Principal, Target, authorize, is_allowed
from roles.matrix import STAFF_ROLES

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
# Door-open outcomes (the only label of anju_door_open_seconds) by error code; others are "error".
DOOR_OUTCOMES = {
    "device_offline": "offline",
    "device_timeout": "timeout",
    "command_service_unavailable": "unavailable",
    "idempotency_key_in_use": "conflict",
}

DOORS_SQL = """
SELECT d.id, d.name, d.kind, d.community, d.building, d.unit, d.device_door, c.district, c.code AS community_code,
       v.id AS device_id, v.code AS device_code, v.online, v.secret_sealed
FROM door d
JOIN device v ON v.id = d.device
JOIN community c ON c.id = d.community
"""


class DeviceOffline(DomainError):
    status = 503


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _grants(who: Principal) -> list[dict[str, Any]]:
    """Grants valid right now; residents open doors by residency, not by grant."""
    if who.role not in STAFF_ROLES:
        return []
    now = _now()
    return await AccessGrant.select(AccessGrant.community, AccessGrant.door).where(
        (AccessGrant.account == who.account_id)
        & (AccessGrant.valid_from <= now)
        & (AccessGrant.valid_until >= now)
    )


def _target(door: dict[str, Any], grants: list[dict[str, Any]]) -> Target:
    granted = any(g["community"] == door["community"] and g["door"] in (None, door["id"]) for g in grants)
    return Target(
        community_id=door["community"],
        district_id=door["district"],
        door_kind=door["kind"],
        building_id=door["building"],
        unit_id=door["unit"],
        granted=granted,
    )


def _door_out(door: dict[str, Any]) -> DoorOut:
    return DoorOut(id=door["id"], name=door["name"], kind=door["kind"], online=bool(door["online"]))


async def my_doors(who: Principal) -> list[DoorOut]:
    authorize(who, Action.LIST_OWN_DOORS)
    grants = await _grants(who)
    communities = who.home_communities | {g["community"] for g in grants}
    if not communities:
        return []
    doors = await Door.raw(
        DOORS_SQL + f"WHERE d.community IN ({placeholders(communities)}) ORDER BY d.id", *communities
    )
    return [_door_out(d) for d in doors if is_allowed(who, Action.OPEN_DOOR, _target(d, grants))]


async def _answered(command_id: str) -> DoorOpened | None:
    """The outcome of a command already acknowledged, for a retry under the same idempotency key."""
    row = (
        await AccessRecord.select(AccessRecord.door, AccessRecord.granted, AccessRecord.at)
        .where(AccessRecord.key == f"cmd:{command_id}")
        .first()
    )
    if row is None:
        return None
    return DoorOpened(door_id=row["door"], opened=row["granted"], command_id=command_id, at=row["at"])


async def _door(door_id: int) -> dict[str, Any]:
    rows = await Door.raw(DOORS_SQL + "WHERE d.id = {}", door_id)
    if not rows:
        raise NotFound("unknown_door", f"No door {door_id}")
    return rows[0]


def _command_record(
    door: dict[str, Any], command_id: str, ok: bool, at: dt.datetime, method: AccessMethod, **who: Any
) -> AccessRecord:
    """The pass a door command made: by phone (the account and the resident it names) or by visitor
    pass (``credential``)."""
    return AccessRecord(
        community=door["community"],
        door=door["id"],
        device=door["device_id"],
        building=door["building"],
        unit=door["unit"],
        method=method,
        sk_fsdm=codes.code_for("KMFSDM", method),
        direction=Direction.IN,
        granted=ok,
        at=at,
        key=f"cmd:{command_id}",
        **who,
    )


async def open_door(ctx: Context, who: Principal, door_id: int, key: str | None, ip: str) -> DoorOpened:
    """Authorise, command the door's device, wait for its ack, record the pass."""
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise Invalid("invalid_idempotency_key", "Idempotency-Key must be 8-40 letters, digits, - or _")
    door = await _door(door_id)
    authorize(who, Action.OPEN_DOOR, _target(door, await _grants(who)))
    command_id = f"{who.account_id}-{key or secrets.token_hex(8)}"
    if key is not None and (answered := await _answered(command_id)):
        return answered  # devices forget command ids after their freshness window; the record does not
    ack = await _command(ctx, door, command_id)
    at = _now()
    async with transaction(AccessRecord._meta.db):
        resident = await registry.resident_person(who.account_id, door["community"]) or {}
        record = _command_record(
            door,
            command_id,
            ack.ok,
            at,
            AccessMethod.PHONE,
            account=who.account_id,
            person=resident.get("person"),
            house=resident.get("house"),
            name=resident.get("name", ""),
            id_number_sealed=resident.get("id_number_sealed", ""),
            ld_bm=resident.get("building_number", ""),
        )
        await AccessRecord.insert(record).on_conflict(action="DO NOTHING")
        await audit.record(
            who,
            "open_door",
            f"door:{door_id}",
            community=door["community"],
            ip=ip,
            detail={"command": command_id, "ok": ack.ok},
        )
    # Parallel taps under one key share the command: every one answers with the stored pass.
    stored = await _answered(command_id) if key is not None else None
    return stored or DoorOpened(door_id=door_id, opened=ack.ok, command_id=command_id, at=at)


async def community_doors(community_id: int) -> list[tuple[DoorOut, Target]]:
    """Every door of a community with what roles/ needs to judge who opens it (visitor passes)."""
    doors = await Door.raw(DOORS_SQL + "WHERE d.community = {} ORDER BY d.id", community_id)
    return [(_door_out(d), _target(d, [])) for d in doors]


async def doors_by_id(door_ids: set[int]) -> list[DoorOut]:
    doors = await Door.raw(DOORS_SQL + f"WHERE d.id IN ({placeholders(door_ids)}) ORDER BY d.id", *door_ids)
    return [_door_out(d) for d in doors]


async def device_doors() -> dict[int, dict[str, int]]:
    """Device id → its door numbers → door ids: what door devices are provisioned with."""
    doors: dict[int, dict[str, int]] = {}
    for door in await Door.select(Door.id, Door.device, Door.device_door):
        doors.setdefault(door["device"], {})[door["device_door"]] = door["id"]
    return doors


async def open_for_pass(ctx: Context, door_id: int, pass_id: int, key: str, ip: str) -> DoorOpened:
    """Open a door for a visitor pass the visitors domain has checked; the pass is the credential.

    ``key`` is the tap's idempotency key, as for :func:`open_door`.
    """
    door = await _door(door_id)
    command_id = f"pass{pass_id}-{key}"
    if answered := await _answered(command_id):
        return answered
    ack = await _command(ctx, door, command_id)
    at = _now()
    async with transaction(AccessRecord._meta.db):
        record = _command_record(
            door, command_id, ack.ok, at, AccessMethod.QR_PASS, credential=f"pass:{pass_id}"
        )
        await AccessRecord.insert(record).on_conflict(action="DO NOTHING")
        await audit.record(
            None,
            "open_door_by_pass",
            f"door:{door_id}",
            community=door["community"],
            ip=ip,
            detail={"command": command_id, "pass": pass_id, "ok": ack.ok},
        )
    # No re-read as open_door does: the visitors domain lets one request per tap key through.
    return DoorOpened(door_id=door_id, opened=ack.ok, command_id=command_id, at=at)


async def panel_door(device_id: int) -> int | None:
    """The door an intercom panel opens (its unit door), if it controls one."""
    row = await Door.select(Door.id).where(Door.device == device_id).order_by(Door.id).first()
    return row["id"] if row else None


async def open_for_call(
    ctx: Context, who: Principal, door_id: int, call_id: int, house_id: int, ip: str
) -> DoorOpened:
    """Open a door for the visitor of an intercom call the intercom domain has checked (the caller
    answered it): the same command, ack and 门禁刷卡信息 record as a phone opening, by 访客呼叫.
    The record names the household called and the account that opened, not a person: the one
    who passes is the visitor."""
    door = await _door(door_id)
    command_id = f"call{call_id}-{secrets.token_hex(6)}"
    ack = await _command(ctx, door, command_id)
    at = _now()
    async with transaction(AccessRecord._meta.db):
        record = _command_record(
            door,
            command_id,
            ack.ok,
            at,
            AccessMethod.VISITOR_CALL,
            account=who.account_id,
            credential=f"call:{call_id}",
            house=house_id,
        )
        await AccessRecord.insert(record)
        await audit.record(
            who,
            "open_door_for_call",
            f"door:{door_id}",
            community=door["community"],
            ip=ip,
            detail={"command": command_id, "call": call_id, "ok": ack.ok},
        )
    return DoorOpened(door_id=door_id, opened=ack.ok, command_id=command_id, at=at)


async def _command(ctx: Context, door: dict[str, Any], command_id: str) -> AckData:
    """Command the door's device and await its ack, timed by outcome (anju_door_open_seconds)."""
    with timed_outcome(DOOR_OPEN_SECONDS) as outcome:
        try:
            if not door["online"]:
                raise DeviceOffline(
                    "device_offline",
                    "This door's controller is offline; use a card, PIN or the property office",
                )
            device = CommandTarget(
                community=door["community_code"],
                device=door["device_code"],
                secret=ctx.keys.unseal(door["secret_sealed"]).encode(),
            )
            ack = await ctx.commands.open(device, command_id, door=door["device_door"])
        except DomainError as exc:
            outcome.value = DOOR_OUTCOMES.get(exc.code, "error")
            raise
        outcome.value = "opened" if ack.ok else "refused"
        return ack


async def grant(ctx: Context, who: Principal, data: GrantIn, district_of: int | None, ip: str) -> GrantOut:
    if district_of is None:
        raise NotFound("unknown_community", f"No community {data.community_id}")
    authorize(
        who,
        Action.GRANT_ACCESS,
        Target(community_id=data.community_id, district_id=district_of, grantee_id=data.account_id),
    )
    if data.valid_until <= data.valid_from:
        raise Invalid("invalid_period", "valid_until must be after valid_from", field="valid_until")
    longest = ctx.settings.grant_max_days
    if data.valid_until - data.valid_from > dt.timedelta(days=longest):
        raise Invalid("grant_too_long", f"A grant lasts at most {longest} days", field="valid_until")
    reason = plain_text(data.reason, "reason")
    account = await Account.objects().get(Account.id == data.account_id)
    if account is None or account.role not in STAFF_ROLES:
        raise Invalid("not_staff", "Grants are for staff and police accounts", field="account_id")
    if data.door_id is not None and not await Door.exists().where(
        (Door.id == data.door_id) & (Door.community == data.community_id)
    ):
        raise NotFound("unknown_door", f"No door {data.door_id} in community {data.community_id}")
    async with transaction(AccessGrant._meta.db):
        row = AccessGrant(
            community=data.community_id,
            account=data.account_id,
            door=data.door_id,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            created_by=who.account_id,
            reason=reason,
        )
        await row.save()
        await audit.record(
            who,
            "grant_access",
            f"account:{data.account_id}",
            community=data.community_id,
            ip=ip,
            detail={"door": data.door_id, "until": data.valid_until.isoformat()},
        )
    return GrantOut(
        id=row.id,
        account_id=data.account_id,
        community_id=data.community_id,
        door_id=data.door_id,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
    )


async def end_grant(who: Principal, grant_id: int, ip: str) -> None:
    """End a grant now (its row stays, as the record of who could open what, when)."""
    row = (
        await AccessGrant.select(AccessGrant.community, AccessGrant.account, AccessGrant.valid_from)
        .where(AccessGrant.id == grant_id)
        .first()
    )
    if row is None:
        raise NotFound("unknown_grant", f"No grant {grant_id}")
    community = await registry.community_target(row["community"])
    authorize(who, Action.GRANT_ACCESS, msgspec.structs.replace(community, grantee_id=row["account"]))
    ended = max(_now(), row["valid_from"])  # a grant not begun yet never begins
    async with transaction(AccessGrant._meta.db):
        await AccessGrant.update({AccessGrant.valid_until: ended}).where(
            (AccessGrant.id == grant_id) & (AccessGrant.valid_until > ended)
        )
        await audit.record(
            who,
            "end_grant",
            f"account:{row['account']}",
            community=row["community"],
            ip=ip,
            detail={"grant": grant_id},
        )


async def community_grants(who: Principal, community_id: int) -> list[GrantListed]:
    """The community's grants that have not ended, the soonest to end first."""
    authorize(who, Action.GRANT_ACCESS, await registry.community_target(community_id))
    rows = await (
        AccessGrant.select(
            AccessGrant.id,
            AccessGrant.account.as_alias("account_id"),
            AccessGrant.account.name.as_alias("account_name"),
            AccessGrant.account.role.as_alias("role"),
            AccessGrant.door.as_alias("door_id"),
            AccessGrant.door.name.as_alias("door_name"),
            AccessGrant.valid_from,
            AccessGrant.valid_until,
            AccessGrant.reason,
        )
        .where((AccessGrant.community == community_id) & (AccessGrant.valid_until > _now()))
        .order_by(AccessGrant.valid_until)
    )
    return [msgspec.convert(row, GrantListed) for row in rows]
