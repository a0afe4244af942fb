"""Visitor passes: invitations, walk-ins at the guard desk, the share link, and the visits made.

A pass opens the doors a household opens (roles.household_opens, the HOME_DOOR rule), within a
window and a number of door openings. The visitor holds two secrets: the share link's token (to
see the pass and open doors through the server; only its keyed digest is stored) and the signed
QR token (qr/passes.py) that a door verifies offline with the community's public key. Online, the
server stays the authority: revocation and uses left are checked on every opening, here and when
a device reports a presented token (ingest.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
from enum import StrEnum
from typing import Any

import msgspec
import segno

from backend.access import service as access
from backend.access.schemas import DoorOpened, DoorOut
from backend.audit import service as audit
from backend.context import Context
from backend.db import writing
from backend.errors import Conflict, DomainError, Invalid, NotFound
from backend.net import spend
from backend.registry import service as registry
from backend.registry.idnumber import RESIDENT_ID_TYPES, InvalidIdNumber, parse_resident_id
from backend.registry.tables import Community, House
from backend.text import plain_text
from backend.uplink import operations as uplink
from backend.vehicles import plates
from backend.visitors.schemas import (
    DeskHouse,
    InvitationIn,
    PassIssued,
    PassKey,
    PassOut,
    SharedPass,
    VisitOut,
    WalkInIn,
)
from backend.visitors.tables import PassKind, PassStatus, Visit, VisitorPass, VisitorPolicy
from qr import passes
from roles import Action, Forbidden, Principal, authorize
from roles.masking import mask_phone
from roles.matrix import STAFF_ROLES, household_opens

SHARE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")  # secrets.token_urlsafe(16): 128 bits
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
PHONE = re.compile(r"^1[0-9]{10}$")


class Refused(StrEnum):
    """Why a pass opens nothing; the PWA shows each in zh-CN and English (error.<code>)."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    USED_UP = "used_up"
    WRONG_DOOR = "wrong_door"
    TAMPERED = "tampered"
    NOT_CONFIRMED = "not_confirmed"


MESSAGES = {
    Refused.EXPIRED: "过期 / This pass has expired",
    Refused.NOT_YET_VALID: "未到时间 / This pass is not valid yet",
    Refused.REVOKED: "已撤销 / This pass was revoked by the household",
    Refused.USED_UP: "次数已用完 / This pass has no openings left",
    Refused.WRONG_DOOR: "此门不在通行证内 / This pass does not open this door",
    Refused.TAMPERED: "通行证无效 / This pass is not genuine",
    Refused.NOT_CONFIRMED: "待住户确认 / The household has not confirmed this visit yet",
}


class PassRefused(DomainError):
    status = 403

    def __init__(self, reason: Refused) -> None:
        super().__init__(reason.value, MESSAGES[reason])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _passes():
    return VisitorPass.select().output(load_json=True)  # the door ids as a list on SQLite too


# --- checks ---------------------------------------------------------------------------------


async def _house(house_id: int) -> dict[str, Any]:
    row = (
        await House.select(House.id, House.community, House.building, House.unit)
        .where(House.id == house_id)
        .first()
    )
    if row is None:
        raise NotFound("unknown_house", f"No house {house_id}")
    return row


async def _doors_for(house: dict[str, Any], requested: list[int]) -> list[DoorOut]:
    """The requested doors, each one the household opens; none requested: the gates and its unit door."""
    opens = [
        door
        for door, target in await access.community_doors(house["community"])
        if household_opens(house["community"], house["building"], house["unit"], target)
    ]
    if not requested:
        requested = [door.id for door in opens if door.kind in ("gate", "unit")]
    if not requested:
        raise Invalid("no_doors", "This household has no door a pass could open", field="door_ids")
    by_id = {door.id: door for door in opens}
    if refused := [door_id for door_id in requested if door_id not in by_id]:
        raise Forbidden("door_not_allowed", f"This household does not open door(s) {refused}; a pass cannot")
    return [by_id[door_id] for door_id in dict.fromkeys(requested)]


def _window(ctx: Context, start: dt.datetime, end: dt.datetime) -> None:
    longest = dt.timedelta(days=ctx.settings.pass_max_days)
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("invalid_period", "Times need a UTC offset", field="valid_from")
    if end <= max(start, _now()):
        raise Invalid(
            "invalid_period", "valid_until must be after valid_from and in the future", field="valid_until"
        )
    if end - start > longest or start - _now() > longest:
        raise Invalid(
            "pass_too_long",
            f"A pass lasts at most {longest.days} days, starting within as many",
            field="valid_until",
        )


def _phone(value: str) -> str:
    if value and not PHONE.match(value):
        raise Invalid("invalid_phone", "Phone must be an 11-digit mobile number", field="phone")
    return value


def clean_plate(value: str) -> str:
    """A Chinese licence plate, upper-cased (7 characters, 8 for new-energy vehicles), or ""."""
    plate = plates.normalised(value)
    if plate and (reason := plates.problem(plate)):
        raise Invalid("invalid_plate", f"Not a Chinese licence plate: {reason}", field="plate")
    return plate


def _name(value: str) -> str:
    name = plain_text(value, "visitor_name")
    if not name:
        raise Invalid("required", "The visitor's name is required", field="visitor_name")
    return name


# --- issuing ----------------------------------------------------------------------------------


async def new_pass(
    ctx: Context, house: dict[str, Any], doors: list[DoorOut], **fields: Any
) -> tuple[VisitorPass, str]:
    """Store a pass; returns it and its share token (shown once, stored only as a keyed digest)."""
    share = secrets.token_urlsafe(16)
    phone = fields.pop("phone", "")
    row = VisitorPass(
        community=house["community"],
        house=house["id"],
        doors=[door.id for door in doors],
        uses_left=fields["uses"],
        phone_sealed=ctx.keys.seal(phone) if phone else "",
        share_hash=ctx.keys.secret_digest(share),
        **fields,
    )
    await row.save()
    return row, share


def _visitor(who: Principal, data: InvitationIn | WalkInIn) -> dict[str, Any]:
    """What every pass says of its visitor (FK_XM, FK_SJHM), its vehicle and its issuer."""
    return {
        "issued_by": who.account_id,
        "visitor_name": _name(data.visitor_name),
        "phone": _phone(data.phone),
        "plate": clean_plate(data.plate),
        "uses": data.uses,
    }


def _issued(ctx: Context, row: VisitorPass, share: str, doors: list[DoorOut]) -> PassIssued:
    return PassIssued(visitor_pass=_out(ctx, row.to_dict(), doors), share_url=share_url(ctx, share))


def share_url(ctx: Context, share: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/v/{share}"


async def invite(ctx: Context, who: Principal, data: InvitationIn, ip: str) -> PassIssued:
    """A verified resident invites a visitor to their household (INVITE_VISITOR is OWN_HOUSE)."""
    house_id = _household(who, data.house_id)
    authorize(who, Action.INVITE_VISITOR, await registry.house_target(house_id))
    house = await _house(house_id)
    _window(ctx, data.valid_from, data.valid_until)
    doors = await _doors_for(house, data.door_ids)
    async with writing(VisitorPass._meta.db) as writer:
        row, share = await new_pass(
            ctx,
            house,
            doors,
            **_visitor(who, data),
            kind=PassKind.INVITATION,
            status=PassStatus.ACTIVE,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
        )
        await uplink.visitor_admitted(writer, ctx.keys, row.id)
        await audit.record(who, "invite_visitor", f"pass:{row.id}", community=house["community"], ip=ip)
    return _issued(ctx, row, share, doors)


def _household(who: Principal, house_id: int | None) -> int:
    """The household named, or the caller's only one."""
    if house_id is not None:
        return house_id
    if len(who.houses) == 1:
        return next(iter(who.houses))
    authorize(who, Action.INVITE_VISITOR)  # whoever has no home is refused as such
    raise Invalid("house_required", "You live in several households: name one (house_id)", field="house_id")


async def register_walk_in(ctx: Context, who: Principal, data: WalkInIn, ip: str) -> PassIssued:
    """The guard desk checks a 身份证/居住证 and issues a pass for the household visited; where the
    community asks for it, the household confirms in the PWA before the pass opens anything."""
    target = await registry.house_target(data.house_id)
    authorize(who, Action.REGISTER_WALK_IN, target)
    house = await _house(data.house_id)
    now = _now()
    _window(ctx, now, data.valid_until)
    if data.id_type not in RESIDENT_ID_TYPES:
        raise Invalid(
            "invalid_id_type", "Walk-ins show a 居民身份证 or 居住证 (type 111/112)", field="id_type"
        )
    try:
        number = parse_resident_id(data.id_number).number
    except InvalidIdNumber as exc:
        raise Invalid("invalid_id_number", f"ID number: {exc}", field="id_number") from None
    doors = await _doors_for(house, data.door_ids)
    confirm = await confirms_walk_ins(house["community"])
    async with writing(VisitorPass._meta.db) as writer:
        row, share = await new_pass(
            ctx,
            house,
            doors,
            **_visitor(who, data),
            kind=PassKind.WALK_IN,
            status=PassStatus.PENDING if confirm else PassStatus.ACTIVE,
            id_type=data.id_type,
            id_number_sealed=ctx.keys.seal(number),
            id_number_hash=ctx.keys.lookup_hash(data.id_type, number),
            valid_from=now,
            valid_until=data.valid_until,
        )
        await audit.record(
            who,
            "register_walk_in",
            f"pass:{row.id}",
            community=target.community_id,
            ip=ip,
            detail={"house": house["id"]},
        )
        if not confirm:
            await uplink.visitor_admitted(writer, ctx.keys, row.id)
    return _issued(ctx, row, share, doors)


async def desk_houses(who: Principal, community_id: int) -> list[DeskHouse]:
    """The community's flats, for the guard desk's destination picker (addresses only, so the
    read is not audited)."""
    authorize(who, Action.REGISTER_WALK_IN, await registry.community_target(community_id))
    rows = (
        await House.select(House.id, House.address.text.as_alias("address"))
        .where(House.community == community_id)
        .order_by(House.address.code)
    )
    return [DeskHouse(id=row["id"], address=row["address"]) for row in rows]


async def demo_pass(ctx: Context, house_id: int, issued_by: int) -> None:
    """The seed's pass for a household (demo and tests): a day long, its default doors."""
    house = await _house(house_id)
    now = _now()
    await new_pass(
        ctx,
        house,
        await _doors_for(house, []),
        kind=PassKind.INVITATION,
        status=PassStatus.ACTIVE,
        issued_by=issued_by,
        visitor_name="访客 示例",
        valid_from=now,
        valid_until=now + dt.timedelta(days=1),
        uses=4,
    )


async def confirms_walk_ins(community_id: int) -> bool:
    row = (
        await VisitorPolicy.select(VisitorPolicy.confirm_walk_ins)
        .where(VisitorPolicy.community == community_id)
        .first()
    )
    return bool(row and row["confirm_walk_ins"])


# --- the household's passes ---------------------------------------------------------------------


async def _authorized_pass(who: Principal, pass_id: int, action: Action) -> dict[str, Any]:
    row = await _passes().where(VisitorPass.id == pass_id).first()
    if row is None:
        raise NotFound("unknown_pass", f"No pass {pass_id}")
    authorize(who, action, await registry.house_target(row["house"]))
    return row


async def my_passes(ctx: Context, who: Principal) -> list[PassOut]:
    """The passes of the caller's households, newest first."""
    authorize(who, Action.LIST_OWN_PASSES)
    if not who.houses:
        return []
    rows = (
        await _passes()
        .where(VisitorPass.house.is_in(list(who.houses)))
        .order_by(VisitorPass.id, ascending=False)
        .limit(100)
    )
    names = await _door_names({door for row in rows for door in row["doors"]})
    return [_out(ctx, row, _in_order(row, names), masked=True) for row in rows]


async def confirm(ctx: Context, who: Principal, pass_id: int, ip: str) -> PassOut:
    row = await _authorized_pass(who, pass_id, Action.CONFIRM_VISITOR)
    if row["status"] != PassStatus.PENDING:
        raise Conflict("not_pending", "This pass is not awaiting confirmation")
    changes = {VisitorPass.status: PassStatus.ACTIVE, VisitorPass.confirmed_by: who.account_id}
    return await _change(ctx, who, row, changes, ip)


async def revoke(ctx: Context, who: Principal, pass_id: int, ip: str) -> PassOut:
    row = await _authorized_pass(who, pass_id, Action.REVOKE_PASS)
    if row["status"] == PassStatus.REVOKED:
        raise Conflict("already_revoked", "This pass is already revoked")
    changes = {
        VisitorPass.status: PassStatus.REVOKED,
        VisitorPass.revoked_by: who.account_id,
        VisitorPass.revoked_at: _now(),
    }
    return await _change(ctx, who, row, changes, ip)


async def visits(who: Principal, pass_id: int, ip: str) -> list[VisitOut]:
    """A pass's uses and refused uses, newest first; staff reads are audited."""
    row = await _authorized_pass(who, pass_id, Action.VIEW_VISITS)
    if who.role in STAFF_ROLES:
        await audit.record_read(who, "view_visits", f"pass:{pass_id}", community=row["community"], ip=ip)
    found = (
        await Visit.select(
            Visit.door.as_alias("door_id"), Visit.direction, Visit.via, Visit.granted, Visit.reason, Visit.at
        )
        .where(Visit.visitor_pass == pass_id)
        .order_by(Visit.id, ascending=False)
        .limit(200)
    )
    return msgspec.convert(found, list[VisitOut])


async def _change(ctx: Context, who: Principal, row: dict[str, Any], changes: dict, ip: str) -> PassOut:
    status = changes[VisitorPass.status]
    async with writing(VisitorPass._meta.db) as writer:
        # Only from the status read: a confirmation never undoes a concurrent revocation.
        changed = (
            await VisitorPass.update(changes)
            .where((VisitorPass.id == row["id"]) & (VisitorPass.status == row["status"]))
            .returning(VisitorPass.id)
        )
        if not changed:
            raise Conflict("pass_changed", "This pass changed meanwhile; reload it")
        await audit.record(who, f"pass_{status}", f"pass:{row['id']}", community=row["community"], ip=ip)
        if status == PassStatus.ACTIVE:
            await uplink.visitor_admitted(writer, ctx.keys, row["id"])
    names = await _door_names(set(row["doors"]))
    return _out(ctx, {**row, "status": status}, _in_order(row, names), masked=True)


async def _door_names(ids: set[int]) -> dict[int, DoorOut]:
    return {door.id: door for door in await access.doors_by_id(ids)} if ids else {}


def _in_order(row: dict[str, Any], names: dict[int, DoorOut]) -> list[DoorOut]:
    """The pass's doors as it lists them (a door removed since is left out)."""
    return [names[door] for door in row["doors"] if door in names]


def _out(ctx: Context, row: dict[str, Any], doors: list[DoorOut], masked: bool = False) -> PassOut:
    phone = ctx.keys.unseal(row["phone_sealed"]) if row["phone_sealed"] else ""
    return PassOut(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        house_id=row["house"],
        visitor_name=row["visitor_name"],
        plate=row["plate"],
        doors=doors,
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        uses=row["uses"],
        uses_left=row["uses_left"],
        phone=mask_phone(phone) if masked and phone else phone,
    )


# --- the share link -------------------------------------------------------------------------------


async def _shared_row(ctx: Context, share: str, ip: str) -> dict[str, Any]:
    """The pass behind a share token; unknown tokens spend the address's budget of misses (429)."""
    row = None
    if SHARE_TOKEN.match(share):
        row = await _passes().where(VisitorPass.share_hash == ctx.keys.secret_digest(share)).first()
    if row is None:
        budget = ctx.settings.scan_misses_per_minute
        await spend(ctx, "pass-miss", ip, budget=budget, seconds=60, what="unknown pass links opened")
        raise NotFound("unknown_pass", "This pass link is unknown")
    return row


def refusal(row: dict[str, Any], now: dt.datetime) -> Refused | None:
    """Why the pass opens nothing now, if it does not (the door aside)."""
    if row["status"] == PassStatus.REVOKED:
        return Refused.REVOKED
    if row["status"] == PassStatus.PENDING:
        return Refused.NOT_CONFIRMED
    if now >= row["valid_until"]:
        return Refused.EXPIRED
    if now < row["valid_from"]:
        return Refused.NOT_YET_VALID
    if row["uses_left"] <= 0:
        return Refused.USED_UP
    return None


def pass_token(ctx: Context, row: dict[str, Any]) -> str:
    claims = passes.Claims(
        pass_id=row["id"],
        community=row["community"],
        doors=tuple(row["doors"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        uses=row["uses"],
    )
    return passes.sign(claims, ctx.keys.pass_key(row["community"]))


async def shared(ctx: Context, share: str, ip: str) -> SharedPass:
    row = await _shared_row(ctx, share, ip)
    names = await _door_names(set(row["doors"]))
    community = await Community.select(Community.name).where(Community.id == row["community"]).first()
    reason = refusal(row, _now())
    token = "" if reason else pass_token(ctx, row)
    return SharedPass(
        visitor_name=row["visitor_name"],
        community=community["name"],
        status=row["status"],
        doors=_in_order(row, names),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        uses_left=row["uses_left"],
        refusal=reason or "",
        token=token,
        qr_image=segno.make(token, error="m").svg_data_uri(scale=6) if token else "",
    )


async def open_shared(ctx: Context, share: str, door_id: int, key: str | None, ip: str) -> DoorOpened:
    """The visitor's "open" button: revocation, window, uses and door checked here, then the access
    domain's door command; a use is taken first (atomically) and given back if the door did not open.

    The tap's visit row is claimed first, under the tap's key: a retry finds it and gets the first
    answer (or refusal) without taking a second use; a twin sent while the first is under way is a 409.
    """
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise Invalid("invalid_idempotency_key", "Idempotency-Key must be 8-40 letters, digits, - or _")
    row = await _shared_row(ctx, share, ip)
    key = key or secrets.token_hex(8)
    visit_key = f"link:{row['id']}-{key}"
    visit = await _claim(row, door_id, visit_key)
    if visit is None:
        return await _seen_tap(ctx, row, door_id, key, visit_key, ip)
    now = _now()
    reason = refusal(row, now) or (None if door_id in row["doors"] else Refused.WRONG_DOOR)
    if reason is None and not await _take_use(row["id"]):
        reason = refusal(await _passes().where(VisitorPass.id == row["id"]).first(), now) or Refused.USED_UP
    if reason is not None:
        await _settle(visit, False, reason)
        raise PassRefused(reason)
    try:
        opened = await access.open_for_pass(ctx, door_id, row["id"], key, ip)
    except DomainError as exc:  # the door's device is offline or silent: no use taken
        await _give_back_use(row["id"])
        # The try stays on record under a key of its own, so that a retry of the tap opens (and counts) once.
        failed = f"{visit_key}:{secrets.token_hex(4)}"  # each failed try its own record
        await Visit.update({Visit.key: failed}).where(Visit.id == visit)
        await _settle(visit, False, exc.code[:20])
        raise
    if not opened.opened:
        await _give_back_use(row["id"])
    await _settle(visit, opened.opened, "" if opened.opened else "device_refused")
    return opened


PENDING = "pending"  # a visit's reason while its tap is under way


async def _seen_tap(
    ctx: Context, row: dict[str, Any], door_id: int, key: str, visit_key: str, ip: str
) -> DoorOpened:
    """A tap already claimed: its refusal again, or its command's stored answer."""
    seen = await Visit.select(Visit.reason).where(Visit.key == visit_key).first()
    if seen is None or seen["reason"] == PENDING:
        raise Conflict("tap_in_progress", "This tap is still being answered; try again in a moment")
    if seen["reason"] in list(Refused):
        raise PassRefused(Refused(seen["reason"]))
    return await access.open_for_pass(ctx, door_id, row["id"], key, ip)


async def _settle(visit: int, granted: bool, reason: str) -> None:
    await Visit.update({Visit.granted: granted, Visit.reason: reason}).where(Visit.id == visit)


async def _take_use(pass_id: int) -> bool:
    """One opening off an active pass, atomically: parallel taps never overdraw it."""
    taken = (
        await VisitorPass.update({VisitorPass.uses_left: VisitorPass.uses_left - 1})
        .where(
            (VisitorPass.id == pass_id)
            & (VisitorPass.status == PassStatus.ACTIVE)
            & (VisitorPass.uses_left > 0)
        )
        .returning(VisitorPass.id)
    )
    return bool(taken)


async def _give_back_use(pass_id: int) -> None:
    await VisitorPass.update({VisitorPass.uses_left: VisitorPass.uses_left + 1}).where(
        VisitorPass.id == pass_id
    )


async def _claim(row: dict[str, Any], door_id: int, key: str) -> int | None:
    """The tap's visit, recorded as under way; None if this key was recorded before."""
    claimed = (
        await Visit.insert(
            Visit(
                visitor_pass=row["id"],
                community=row["community"],
                door=door_id,
                direction="in",
                via="link",
                granted=False,
                reason=PENDING,
                at=_now(),
                key=key,
            )
        )
        .on_conflict(action="DO NOTHING")
        .returning(Visit.id)
    )
    return claimed[0]["id"] if claimed else None


async def public_key(ctx: Context, community_id: int) -> PassKey:
    """What door devices verify passes with; public by nature (provisioning may carry it too)."""
    if not await Community.exists().where(Community.id == community_id):
        raise NotFound("unknown_community", f"No community {community_id}")
    raw = ctx.keys.pass_public_key(community_id)
    return PassKey(community_id=community_id, algorithm="Ed25519", public_key=base64.b64encode(raw).decode())
