"""Registry rules: registration, verification, deregistration, key persons, metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

from backend.accounts.tables import Account
from backend.audit import service as audit
from backend.context import Context
from backend.db import placeholders, transaction
from backend.errors import Conflict, Invalid, NotFound
from backend.registry import codes
from backend.registry.enums import ResidenceCategory, ResidencyStatus
from backend.registry.idnumber import (
    RESIDENT_ID_TYPES,
    InvalidIdNumber,
    parse_resident_id,
    validate_id,
)
from backend.registry.schemas import (
    CommunityOut,
    CommunityRef,
    QueueItem,
    RegistrationIn,
    ResidencyOut,
    ResidentView,
)
from backend.registry.tables import Community, House, Person, Residency
from backend.text import plain_text
from roles import (
    Action,
    Principal,
    Target,
    Viewer,
    authorize,
    is_allowed,
    project_person,
    viewer_for,
)

CURRENT = (ResidencyStatus.PENDING, ResidencyStatus.VERIFIED)
PHONE_DIGITS = 11


# --- targets -----------------------------------------------------------------


async def community_target(community_id: int, **extra: Any) -> Target:
    row = await Community.select(Community.district).where(Community.id == community_id).first()
    if row is None:
        raise NotFound("unknown_community", f"No community {community_id}")
    return Target(community_id=community_id, district_id=row["district"], **extra)


async def house_target(house_id: int) -> Target:
    row = (
        await House.select(House.community, House.community.district.as_alias("district"))
        .where(House.id == house_id)
        .first()
    )
    if row is None:
        raise NotFound("unknown_house", f"No house {house_id}")
    return Target(community_id=row["community"], district_id=row["district"], house_id=house_id)


# --- validation --------------------------------------------------------------


def _coded(field: str, table: str, value: str) -> str:
    try:
        return codes.validate(table, value)
    except codes.InvalidCode as exc:
        raise Invalid("invalid_code", str(exc), field=field) from None


def clean_registration(data: RegistrationIn, today: dt.date) -> dict[str, Any]:
    """Check every field against the national dictionaries; derive what the ID number implies."""
    name = plain_text(data.name, "name")
    if not name:
        raise Invalid("required", "Name is required", field="name")
    if not (data.phone.isdigit() and len(data.phone) == PHONE_DIGITS and data.phone.startswith("1")):
        raise Invalid("invalid_phone", "Phone must be an 11-digit mobile number", field="phone")
    _coded("id_type", "ZJLX", data.id_type)
    try:
        id_number = validate_id(data.id_type, data.id_number)
    except InvalidIdNumber as exc:
        raise Invalid("invalid_id_number", f"ID number: {exc}", field="id_number") from None
    gender, birth_date = data.gender, data.birth_date
    if data.id_type in RESIDENT_ID_TYPES:
        resident_id = parse_resident_id(id_number)
        if gender and gender != resident_id.gender_code:
            raise Invalid("id_mismatch", "Gender does not match the ID number", field="gender")
        if birth_date and birth_date != resident_id.birth_date:
            raise Invalid("id_mismatch", "Birth date does not match the ID number", field="birth_date")
        gender, birth_date = resident_id.gender_code, resident_id.birth_date
    if birth_date and birth_date > today:
        raise Invalid("future_date", "Birth date is in the future", field="birth_date")
    if data.start_date and data.start_date > today + dt.timedelta(days=31):
        raise Invalid("future_date", "Move-in date is too far in the future", field="start_date")
    return {
        "name": name,
        "id_type": data.id_type,
        "id_number": id_number,
        "gender": _coded("gender", "XB", gender),
        "ethnicity": _coded("ethnicity", "MZ", data.ethnicity),
        "nationality": _coded("nationality", "GJ", data.nationality),
        "birth_date": birth_date,
        "phone": data.phone,
        "hukou_region": _coded("hukou_region", "XZQH", data.hukou_region),
        "hukou_address": plain_text(data.hukou_address, "hukou_address"),
        "residence_category": data.residence_category,
        "relation": _coded("relation", "YZGX", data.relation),
        "reason": _coded("reason", "ZZSY", data.reason),
        "start_date": data.start_date or today,
    }


# --- registration ------------------------------------------------------------


def _registration_mode(who: Principal, target: Target, own_phone: bool) -> ResidencyStatus:
    """Staff register verified residents; everyone else registers pending ones."""
    if is_allowed(who, Action.REGISTER, target):
        return ResidencyStatus.VERIFIED
    authorize(who, Action.SELF_REGISTER if own_phone or not who.signed_in else Action.ADD_MEMBER, target)
    return ResidencyStatus.PENDING


async def register(
    ctx: Context, who: Principal, house_id: int, data: RegistrationIn, ip: str
) -> ResidencyOut:
    target = await house_target(house_id)
    fields = clean_registration(data, dt.date.today())
    account = await Account.objects().get(Account.id == who.account_id) if who.signed_in else None
    own_phone = account is not None and account.phone == fields["phone"]
    status = _registration_mode(who, target, own_phone)
    async with transaction(Residency._meta.db):
        person = await _person_for(ctx, fields)
        if await Residency.exists().where(
            (Residency.person == person.id) & (Residency.house == house_id) & Residency.status.is_in(CURRENT)
        ):
            raise Conflict("already_registered", "This person is already registered at this address")
        residency = Residency(
            community=target.community_id,
            house=house_id,
            person=person.id,
            relation=fields["relation"],
            reason=fields["reason"],
            start_date=fields["start_date"],
            status=status,
            registered_by=who.account_id,
        )
        if status is ResidencyStatus.VERIFIED:
            residency.decided_by, residency.decided_at = who.account_id, dt.datetime.now(dt.UTC)
        await residency.save()
        if own_phone and account.person is None:
            await Account.update({Account.person: person.id}).where(Account.id == account.id)
        await audit.record(
            who,
            "register",
            f"residency:{residency.id}",
            community=target.community_id,
            ip=ip,
            detail={"house": house_id, "person": person.id, "status": status},
        )
    return ResidencyOut(residency_id=residency.id, status=status)


async def _person_for(ctx: Context, fields: dict[str, Any]) -> Person:
    """One row per document: a person already known keeps their (possibly verified) record."""
    lookup = ctx.keys.lookup_hash(fields["id_type"], fields["id_number"])
    person = await Person.objects().get(Person.id_number_hash == lookup)
    if person is not None:
        return person
    person = Person(
        **{
            k: fields[k]
            for k in (
                "name",
                "id_type",
                "gender",
                "ethnicity",
                "nationality",
                "birth_date",
                "phone",
                "hukou_region",
                "hukou_address",
                "residence_category",
            )
        },
        id_number_encrypted=ctx.keys.seal(fields["id_number"]),
        id_number_hash=lookup,
    )
    await person.save()
    return person


# --- decisions -----------------------------------------------------------------


async def _residency(residency_id: int) -> dict[str, Any]:
    row = (
        await Residency.select(
            Residency.all_columns(),
            Residency.community.district.as_alias("district"),
            Residency.person.residence_category.as_alias("residence_category"),
        )
        .where(Residency.id == residency_id)
        .first()
    )
    if row is None:
        raise NotFound("unknown_residency", f"No residency {residency_id}")
    return row


async def _decide(
    who: Principal,
    residency_id: int,
    action: Action,
    status: ResidencyStatus,
    reason: str,
    ip: str,
    allowed_from: tuple[ResidencyStatus, ...],
) -> ResidencyOut:
    reason = plain_text(reason, "reason")
    row = await _residency(residency_id)
    authorize(
        who,
        action,
        Target(
            community_id=row["community"],
            district_id=row["district"],
            house_id=row["house"],
            residence_category=ResidenceCategory(row["residence_category"]),
        ),
    )
    if row["status"] not in allowed_from:
        raise Conflict("wrong_status", f"Residency is {row['status']}, cannot {action.value}")
    changes = {
        Residency.status: status,
        Residency.decided_by: who.account_id,
        Residency.decided_at: dt.datetime.now(dt.UTC),
        Residency.decision_reason: reason,
    }
    if status is ResidencyStatus.ENDED:
        changes[Residency.end_date] = dt.date.today()
    async with transaction(Residency._meta.db):
        await Residency.update(changes).where(Residency.id == residency_id)
        await audit.record(
            who,
            action.value,
            f"residency:{residency_id}",
            community=row["community"],
            ip=ip,
            detail={"status": status, "reason": reason},
        )
    return ResidencyOut(residency_id=residency_id, status=status)


async def verify(who: Principal, residency_id: int, ip: str) -> ResidencyOut:
    return await _decide(
        who, residency_id, Action.VERIFY, ResidencyStatus.VERIFIED, "", ip, (ResidencyStatus.PENDING,)
    )


async def reject(who: Principal, residency_id: int, reason: str, ip: str) -> ResidencyOut:
    if not reason.strip():
        raise Invalid("required", "Give a reason for rejecting", field="reason")
    return await _decide(
        who, residency_id, Action.VERIFY, ResidencyStatus.REJECTED, reason, ip, (ResidencyStatus.PENDING,)
    )


async def deregister(who: Principal, residency_id: int, reason: str, ip: str) -> ResidencyOut:
    if not reason.strip():
        raise Invalid("required", "Give a reason for deregistering", field="reason")
    return await _decide(who, residency_id, Action.DEREGISTER, ResidencyStatus.ENDED, reason, ip, CURRENT)


async def flag_key_person(who: Principal, person_id: int, key_person: bool, category: str, ip: str) -> None:
    """Police flag a person living in a community they serve."""
    category = plain_text(category, "key_category")
    rows = await Residency.select(
        Residency.community, Residency.community.district.as_alias("district")
    ).where((Residency.person == person_id) & Residency.status.is_in(CURRENT))
    targets = [Target(community_id=r["community"], district_id=r["district"]) for r in rows]
    if not targets:
        raise NotFound("unknown_person", f"No current resident {person_id}")
    permitted = [t for t in targets if is_allowed(who, Action.FLAG_KEY_PERSON, t)]
    if not permitted:
        authorize(who, Action.FLAG_KEY_PERSON, targets[0])  # raises the precise refusal
    async with transaction(Person._meta.db):
        await Person.update(
            {Person.key_person: key_person, Person.key_category: category if key_person else ""}
        ).where(Person.id == person_id)
        await audit.record(
            who,
            "flag_key_person",
            f"person:{person_id}",
            community=permitted[0].community_id,
            ip=ip,
            detail={"key_person": key_person},
        )


# --- reads ---------------------------------------------------------------------


def _person_record(ctx: Context, row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "id_number": ctx.keys.unseal(row["id_number_encrypted"])}


# Hand-written SQL for the reads on the scan path: building the equivalent Piccolo query
# with its joins cost more CPU than running it (bench/scan.py). Portable to both engines.
RESIDENTS_SQL = """
SELECT r.id AS residency_id, r.status, r.relation, r.registered_at, r.registered_by, r.community,
       p.id AS person_id, p.name, p.residence_category, p.gender, p.birth_date, p.phone,
       p.id_number_encrypted, p.key_person, p.key_category, a.text AS address
FROM residency r
JOIN person p ON p.id = r.person
JOIN house h ON h.id = r.house
JOIN address a ON a.id = h.address
"""


def resident_view(ctx: Context, viewer: Viewer, row: dict[str, Any]) -> ResidentView:
    # SQLite hands booleans back as integers.
    record = {**_person_record(ctx, row), "key_person": bool(row["key_person"])}
    return ResidentView(**project_person(viewer, record))


async def residents_of(ctx: Context, house_id: int, viewer: Viewer) -> list[ResidentView]:
    rows = await Residency.raw(
        RESIDENTS_SQL + "WHERE r.house = {} AND r.status IN ('pending', 'verified') ORDER BY r.id", house_id
    )
    return [resident_view(ctx, viewer, row) for row in rows]


async def communities_in_scope(who: Principal) -> list[dict[str, Any]]:
    """Communities the caller is assigned to, directly or through a district."""
    conditions = []
    if who.communities:
        conditions.append(Community.id.is_in(list(who.communities)))
    if who.districts:
        conditions.append(Community.district.is_in(list(who.districts)))
    if not conditions:
        return []
    where = conditions[0] if len(conditions) == 1 else conditions[0] | conditions[1]
    return (
        await Community.select(
            Community.id,
            Community.name,
            Community.district,
            Community.tier,
            Community.street,
            Community.police_station,
        )
        .where(where)
        .order_by(Community.id)
    )


async def list_communities(who: Principal) -> list[CommunityOut]:
    authorize(who, Action.LIST_COMMUNITIES)
    rows = await communities_in_scope(who)
    visible = [
        r
        for r in rows
        if is_allowed(who, Action.VIEW_METRICS, Target(community_id=r["id"], district_id=r["district"]))
    ]
    return [
        CommunityOut(
            id=r["id"], name=r["name"], tier=r["tier"], street=r["street"], police_station=r["police_station"]
        )
        for r in visible
    ]


async def verification_queue(ctx: Context, who: Principal, ip: str) -> list[QueueItem]:
    communities = [
        r
        for r in await communities_in_scope(who)
        if is_allowed(who, Action.VERIFY, Target(community_id=r["id"], district_id=r["district"]))
    ]
    if not communities:
        authorize(who, Action.VERIFY, Target())  # no community to verify in: refuse precisely
        return []
    viewer = viewer_for(
        who, Target(community_id=communities[0]["id"], district_id=communities[0]["district"])
    )
    names = {r["id"]: r["name"] for r in communities}
    rows = await Residency.raw(
        RESIDENTS_SQL
        + f"WHERE r.community IN ({placeholders(names)}) AND r.status = 'pending' ORDER BY r.registered_at",
        *names,
    )
    registrars = await _account_names({r["registered_by"] for r in rows if r["registered_by"]})
    await audit.record_read(who, "read_queue", "verification_queue", ip=ip, detail={"count": len(rows)})
    return [
        QueueItem(
            residency_id=row["residency_id"],
            community=CommunityRef(id=row["community"], name=names[row["community"]]),
            address=row["address"],
            registered_at=row["registered_at"],
            registered_by=registrars.get(row["registered_by"], "self"),
            person=resident_view(ctx, viewer, row),
        )
        for row in rows
    ]


async def _account_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await Account.select(Account.id, Account.name, Account.phone).where(Account.id.is_in(list(ids)))
    return {r["id"]: r["name"] or r["phone"] for r in rows}


async def verification_counts(community_id: int) -> tuple[int, int]:
    """(verified, verified + pending) over current residencies: the 核实率 basis."""
    verified = await Residency.count().where(
        (Residency.community == community_id) & (Residency.status == ResidencyStatus.VERIFIED)
    )
    pending = await Residency.count().where(
        (Residency.community == community_id) & (Residency.status == ResidencyStatus.PENDING)
    )
    return verified, verified + pending
