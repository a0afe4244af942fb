"""Registry rules: registration, verification, deregistration, key persons, metrics."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import msgspec

from backend.accounts.tables import Account
from backend.audit import service as audit
from backend.context import Context
from backend.db import placeholders, transaction, writing
from backend.errors import Conflict, Invalid, NotFound
from backend.live import wakeup
from backend.registry import codes
from backend.registry.enums import ResidenceCategory, ResidencyStatus, Tier
from backend.registry.idnumber import (
    RESIDENT_ID_TYPES,
    InvalidIdNumber,
    parse_resident_id,
    validate_id,
)
from backend.registry.schemas import (
    CommunityOut,
    CommunityRef,
    CorrectionIn,
    HistoryEntry,
    KeyPerson,
    PastOrPresent,
    QueueItem,
    RegistrationIn,
    ResidencyOut,
    ResidentView,
    SamePerson,
    VerifyIn,
)
from backend.registry.tables import (
    Building,
    Community,
    Gate,
    House,
    Organisation,
    Person,
    Residency,
    ResidencyCorrection,
    Unit,
)
from backend.text import plain_text
from backend.uplink import rows as uplink
from device_bridge.store import Writer
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
from roles.projections import person_fields

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


async def places_belong(community_id: int, building: int | None, unit: int | None, gate: int | None) -> bool:
    """Whether each of the given building, unit and gate is in the community."""
    for table, row_id in ((Building, building), (Unit, unit), (Gate, gate)):
        if row_id is not None and not await table.exists().where(
            (table.id == row_id) & (table.community == community_id)
        ):
            return False
    return True


async def map_places(community_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A community's buildings (with their flats' ids) and gates that have a place on its map."""
    buildings = (
        await Building.select(Building.id, Building.name, Building.map_x, Building.map_y)
        .where((Building.community == community_id) & Building.map_x.is_not_null())
        .order_by(Building.id)
    )
    flats: dict[int, list[int]] = {}
    for flat in await House.select(House.id, House.building).where(House.community == community_id):
        flats.setdefault(flat["building"], []).append(flat["id"])
    for building in buildings:
        building["houses"] = flats.get(building["id"], [])
    gates = (
        await Gate.select(Gate.id, Gate.name, Gate.map_x, Gate.map_y)
        .where((Gate.community == community_id) & Gate.map_x.is_not_null())
        .order_by(Gate.id)
    )
    return buildings, gates


async def gates_and_units(community_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A community's gates (id, name) and units (id, building, label such as 1栋2单元, the
    building's floors above ground), in order: the places a coverage check walks."""
    gates = await Gate.select(Gate.id, Gate.name).where(Gate.community == community_id).order_by(Gate.id)
    units = (
        await Unit.select(
            Unit.id,
            Unit.building,
            Unit.number,
            Unit.building.name.as_alias("building_name"),
            Unit.building.floors_above.as_alias("floors"),
        )
        .where(Unit.community == community_id)
        .order_by(Unit.building, Unit.id)
    )
    for unit in units:
        unit["label"] = f"{unit.pop('building_name')}{unit.pop('number')}"
    return gates, units


async def community_names(ids: frozenset[int]) -> dict[int, str]:
    rows = await Community.select(Community.id, Community.name).where(Community.id.is_in(sorted(ids) or [0]))
    return {row["id"]: row["name"] for row in rows}


async def home_address(community_id: int, houses: frozenset[int]) -> str:
    """The standard address of the caller's (first) flat in the community, for a service request."""
    row = (
        await House.select(House.address.text.as_alias("text"))
        .where((House.community == community_id) & House.id.is_in(sorted(houses) or [0]))
        .order_by(House.id)
        .first()
    )
    return row["text"] if row else ""


BUILDING_OF_ADDRESS = """
SELECT COALESCE(h.building, u.building, b.id) AS building, g.id AS gate
FROM address a
LEFT JOIN house h ON h.address = a.id
LEFT JOIN unit u ON u.address = a.id
LEFT JOIN building b ON b.address = a.id
LEFT JOIN gate g ON g.address = a.id
WHERE a.id = {}
"""


async def building_of(address_id: int) -> tuple[int | None, int | None]:
    """The building a standard address is in (a flat's, a unit's, the building's own), or its gate."""
    rows = await Community.raw(BUILDING_OF_ADDRESS, address_id)
    return (rows[0]["building"], rows[0]["gate"]) if rows else (None, None)


# --- validation --------------------------------------------------------------


def _coded(field: str, table: str, value: str) -> str:
    try:
        return codes.validate(table, value)
    except codes.InvalidCode as exc:
        raise Invalid("invalid_code", str(exc), field=field) from None


FWCS_BYTES = 100  # 服务处所 is VARCHAR2(100): bytes of UTF-8, as the uplink checks it
STANDARD_CODED = {
    "occupation": "ZYLB",
    "education": "WHCD",
    "marital_status": "HYZK",
    "native_place": "XZQH",
    "lodging": "ZZCS",
}
PERSON_STANDARD_FIELDS = ("occupation", "education", "marital_status", "native_place", "service_place")


def clean_standard(values: dict[str, str | None], category: str) -> dict[str, str]:
    """The 一标三实 fields given (None: not given), each checked against its dictionary.

    "" clears a field. 暂住处所 belongs to non-permanent residents: a 常住 resident is refused one.
    """
    cleaned: dict[str, str] = {}
    for field, value in values.items():
        if value is None:
            continue
        if field == "service_place":
            text = plain_text(value, field)
            if len(text.encode()) > FWCS_BYTES:
                raise Invalid(
                    "too_long",
                    f"服务处所 is at most {FWCS_BYTES} bytes (UTF-8), got {len(text.encode())}",
                    field=field,
                )
            cleaned[field] = text
        elif value:
            cleaned[field] = _coded(field, STANDARD_CODED[field], value)
        else:
            cleaned[field] = ""
    if cleaned.get("lodging") and category == ResidenceCategory.PERMANENT:
        raise Invalid("not_applicable", "暂住处所 is for non-permanent residents only", field="lodging")
    return cleaned


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
        **clean_standard(
            {field: getattr(data, field) for field in (*PERSON_STANDARD_FIELDS, "lodging")},
            data.residence_category,
        ),
    }


# --- sealed fields -------------------------------------------------------------------

PROVISIONAL = "provisional:"  # id_number_hash of a self-registration's person until verified


def sealed_phone(ctx: Context, phone: str) -> dict[Any, str]:
    """A resident's phone at rest: sealed, with a keyed hash to find accounts by it."""
    return {Person.phone_sealed: ctx.keys.seal(phone), Person.phone_hash: phone_lookup(ctx, phone)}


def phone_lookup(ctx: Context, phone: str) -> str:
    return ctx.keys.lookup_hash("phone", phone)


def sealed_key_flag(ctx: Context, key_person: bool, category: str = "") -> str:
    """重点人员 flag and 管理类别, sealed for every person alike (flagged or not)."""
    return ctx.keys.seal(msgspec.json.encode({"key_person": key_person, "key_category": category}).decode())


def _key_flag(ctx: Context, sealed: str) -> dict[str, Any]:
    if not sealed:
        return {"key_person": False, "key_category": ""}
    return msgspec.json.decode(ctx.keys.unseal(sealed))


def _document_hash(ctx: Context, row: dict[str, Any]) -> str:
    """The keyed hash of a person's document, also for a provisional person (from the sealed number)."""
    if not row["id_number_hash"].startswith(PROVISIONAL):
        return row["id_number_hash"]
    return ctx.keys.lookup_hash(row["id_type"], ctx.keys.unseal(row["id_number_encrypted"]))


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
    """Staff registrations are verified at once; anyone else's wait, whatever they declare.

    A pending registration gets a person of its own and the same answer whether or not the
    ID number is known here: the verifier, not the registrant, learns of the match.
    """
    target = await house_target(house_id)
    fields = clean_registration(data, dt.date.today())
    account = await Account.objects().get(Account.id == who.account_id) if who.signed_in else None
    own_phone = account is not None and account.phone == fields["phone"]
    status = _registration_mode(who, target, own_phone)
    async with writing(Residency._meta.db) as writer:
        if status is ResidencyStatus.VERIFIED:
            person = await _known_person(ctx, fields)
            await _refuse_duplicate(person.id, house_id)
            decided = {
                "decided_by": who.account_id,
                "decided_at": dt.datetime.now(dt.UTC),
                "account": await _account_with_phone(fields["phone"]),
            }
        else:
            person = await _new_person(ctx, fields, PROVISIONAL + secrets.token_hex(20), category="")
            decided = {
                "proposed_category": fields["residence_category"],
                "account": account.id if own_phone else None,
            }
        residency = Residency(
            community=target.community_id,
            house=house_id,
            person=person.id,
            relation=fields["relation"],
            reason=fields["reason"],
            start_date=fields["start_date"],
            lodging=fields["lodging"],
            status=status,
            registered_by=who.account_id,
            **decided,
        )
        await residency.save()
        await audit.record(
            who,
            "register",
            f"residency:{residency.id}",
            community=target.community_id,
            ip=ip,
            detail={"house": house_id, "person": person.id, "status": status},
        )
        if status is ResidencyStatus.VERIFIED:
            await uplink.owe_ybss(writer, ctx, (residency.id, target.community_id), "register")
    await wakeup.changed([target.community_id])
    return ResidencyOut(residency_id=residency.id, status=status)


async def _refuse_duplicate(person_id: int, house_id: int) -> None:
    """Only for staff, who see the household anyway: no presence oracle for anyone else."""
    if await Residency.exists().where(
        (Residency.person == person_id) & (Residency.house == house_id) & Residency.status.is_in(CURRENT)
    ):
        raise Conflict("already_registered", "This person is already registered at this address")


async def _known_person(ctx: Context, fields: dict[str, Any]) -> Person:
    """Staff registration (trusted): one row per document, a known person keeps their record."""
    lookup = ctx.keys.lookup_hash(fields["id_type"], fields["id_number"])
    person = await Person.objects().get(Person.id_number_hash == lookup)
    if person is None:
        return await _new_person(ctx, fields, lookup, category=fields["residence_category"])
    # What staff collected now completes the known record; what they left empty keeps it.
    newer = {Person._meta.get_column_by_name(f): fields[f] for f in PERSON_STANDARD_FIELDS if fields[f]}
    if newer:
        await Person.update(newer).where(Person.id == person.id)
    return person


async def _new_person(ctx: Context, fields: dict[str, Any], lookup: str, category: str) -> Person:
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
                "hukou_region",
                "hukou_address",
                *PERSON_STANDARD_FIELDS,
            )
        },
        residence_category=category,
        id_number_encrypted=ctx.keys.seal(fields["id_number"]),
        id_number_hash=lookup,
        key_sealed=sealed_key_flag(ctx, False),
    )
    for column, value in sealed_phone(ctx, fields["phone"]).items():
        setattr(person, column._meta.name, value)
    await person.save()
    return person


async def _account_with_phone(phone: str) -> int | None:
    """The account whose phone a residency declares: its sign-in code proves the phone."""
    row = await Account.select(Account.id).where(Account.phone == phone).first()
    return row["id"] if row else None


async def link_account(ctx: Context, account_id: int, phone: str) -> None:
    """A new account takes the verified residencies declaring its phone that have no account yet.

    The SMS code proved the phone; staff verification proved the residency.
    """
    people = Person.select(Person.id).where(Person.phone_hash == phone_lookup(ctx, phone))
    await Residency.update({Residency.account: account_id}).where(
        Residency.account.is_null()
        & (Residency.status == ResidencyStatus.VERIFIED)
        & Residency.person.is_in(people)
    )


async def resident_person(account_id: int | None, community_id: int) -> dict[str, Any] | None:
    """The person whose verified residency here gave the account its door, as an access record
    names them (person, house, name, sealed ID number, building number); None for staff."""
    return (
        await Residency.select(
            Residency.person,
            Residency.house,
            Residency.person.name.as_alias("name"),
            Residency.person.id_number_encrypted.as_alias("id_number_sealed"),
            Residency.house.building.number.as_alias("building_number"),
        )
        .where(
            (Residency.account == account_id)
            & (Residency.community == community_id)
            & (Residency.status == ResidencyStatus.VERIFIED)
        )
        .first()
    )


async def household_member(person_id: int, house_id: int, on: dt.date) -> dict[str, Any] | None:
    """The person (name, document) if their verified residency at ``house_id`` is current on ``on``."""
    return (
        await Residency.select(
            Residency.person.name.as_alias("name"),
            Residency.person.id_type.as_alias("id_type"),
            Residency.person.id_number_encrypted.as_alias("id_number_encrypted"),
        )
        .where(
            (Residency.person == person_id)
            & (Residency.house == house_id)
            & (Residency.status == ResidencyStatus.VERIFIED)
            & (Residency.end_date.is_null() | (Residency.end_date >= on))
        )
        .first()
    )


async def household_people(house_ids: list[int]) -> list[int]:
    """The people with a verified residency at one of ``house_ids`` (their households)."""
    rows = await Residency.select(Residency.person).where(
        Residency.house.is_in(house_ids or [0]) & (Residency.status == ResidencyStatus.VERIFIED)
    )
    return sorted({row["person"] for row in rows})


async def homes_of(who: Principal) -> list[dict[str, Any]]:
    """The signed-in resident's pending and verified residencies, with their flat's address."""
    authorize(who, Action.VIEW_OWN_HOMES)
    return (
        await Residency.select(
            Residency.id.as_alias("residency_id"),
            Residency.status,
            Residency.house.as_alias("house_id"),
            Residency.house.address.as_alias("address_id"),
            Residency.house.address.text.as_alias("address"),
            Residency.community.name.as_alias("community"),
            Residency.start_date.as_alias("since"),
        )
        .where(
            (Residency.account == who.account_id)
            & Residency.status.is_in([ResidencyStatus.PENDING, ResidencyStatus.VERIFIED])
        )
        .order_by(Residency.id)
    )


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


def _residency_target(row: dict[str, Any]) -> Target:
    return Target(
        community_id=row["community"],
        district_id=row["district"],
        house_id=row["house"],
        residence_category=ResidenceCategory(row["residence_category"])
        if row["residence_category"]
        else None,
    )


async def _decide(
    who: Principal,
    row: dict[str, Any],
    action: Action,
    status: ResidencyStatus,
    reason: str,
    ip: str,
    allowed_from: tuple[ResidencyStatus, ...],
    changes: dict[str, Any] | None = None,
    noted: dict[str, Any] | None = None,
) -> ResidencyOut:
    """Change a residency's status (and columns named in ``changes``), audited with ``noted`` too.

    Homes come only from verified residencies: leaving 'verified' ends what this one gave.
    """
    changes = changes or {}
    reason = plain_text(reason, "reason")
    if row["status"] not in allowed_from:
        raise Conflict("wrong_status", f"Residency is {row['status']}, cannot {action.value}")
    values = {
        Residency.status: status,
        Residency.decided_by: who.account_id,
        Residency.decided_at: dt.datetime.now(dt.UTC),
        Residency.decision_reason: reason,
        **{Residency._meta.get_column_by_name(name): value for name, value in changes.items()},
    }
    if status is ResidencyStatus.ENDED:
        values[Residency.end_date] = dt.date.today()
    async with transaction(Residency._meta.db):
        await Residency.update(values).where(Residency.id == row["id"])
        await audit.record(
            who,
            action.value,
            f"residency:{row['id']}",
            community=row["community"],
            ip=ip,
            detail={"status": status, "reason": reason, **changes, **(noted or {})},
        )
    return ResidencyOut(residency_id=row["id"], status=status)


async def _authorized_residency(who: Principal, residency_id: int, action: Action) -> dict[str, Any]:
    row = await _residency(residency_id)
    authorize(who, action, _residency_target(row))
    return row


async def verify(ctx: Context, who: Principal, residency_id: int, data: VerifyIn, ip: str) -> ResidencyOut:
    """Confirm a pending residency: its category, and its person (merged into a known one if the same)."""
    row = await _authorized_residency(who, residency_id, Action.VERIFY)
    if row["status"] != ResidencyStatus.PENDING:
        raise Conflict("wrong_status", f"Residency is {row['status']}, cannot verify")
    person = await Person.select().where(Person.id == row["person"]).first()
    category = data.residence_category or row["proposed_category"] or row["residence_category"]
    if not category:
        raise Invalid("required", "Confirm the resident's category", field="residence_category")
    filled = clean_standard(msgspec.structs.asdict(data.standard), category) if data.standard else {}
    if category == ResidenceCategory.PERMANENT and "lodging" not in filled and row["lodging"]:
        filled["lodging"] = ""  # confirmed permanent: a proposed 暂住处所 no longer applies
    phone = ctx.keys.unseal(person["phone_sealed"]) if person["phone_sealed"] else ""
    person_values = {
        Person._meta.get_column_by_name(f): v for f, v in filled.items() if f in PERSON_STANDARD_FIELDS
    }
    async with writing(Residency._meta.db) as writer:
        person_id = await _confirm_person(ctx, person, row["house"], data.merge_into)
        await Person.update({Person.residence_category: category, **person_values}).where(
            Person.id == person_id
        )
        if "lodging" in filled:
            await Residency.update({Residency.lodging: filled["lodging"]}).where(Residency.id == row["id"])
        outcome = await _decide(
            who,
            row,
            Action.VERIFY,
            ResidencyStatus.VERIFIED,
            "",
            ip,
            (ResidencyStatus.PENDING,),
            changes={"account": row["account"] or (await _account_with_phone(phone) if phone else None)},
            noted={
                "person": person_id,
                "residence_category": category,
                "proposed_category": row["proposed_category"],
                **({"standard": filled} if filled else {}),
            },
        )
        await uplink.owe_ybss(writer, ctx, (row["id"], row["community"]), "verify")
        shown_in = await _communities_showing(person_id)
    await wakeup.changed(shown_in)
    return outcome


async def _confirm_person(ctx: Context, person: dict[str, Any], house_id: int, merge_into: int | None) -> int:
    """The established person this residency belongs to once verified."""
    if not person["id_number_hash"].startswith(PROVISIONAL):
        if merge_into is not None:
            raise Invalid("not_same_person", "This resident is not a provisional match", field="merge_into")
        return person["id"]
    document = _document_hash(ctx, person)
    known = await Person.select(Person.id).where(Person.id_number_hash == document).first()
    if known is None:
        if merge_into is not None:
            raise Invalid("not_same_person", "No known person has this ID number", field="merge_into")
        await Person.update({Person.id_number_hash: document}).where(Person.id == person["id"])
        return person["id"]
    if merge_into != known["id"]:
        raise Conflict(
            "same_person",
            f"The ID number belongs to person {known['id']}: verify with merge_into, or reject",
        )
    await _refuse_duplicate(known["id"], house_id)
    # The newest verified registration carries the person's current phone.
    await Person.update(
        {Person.phone_sealed: person["phone_sealed"], Person.phone_hash: person["phone_hash"]}
    ).where(Person.id == known["id"])
    await Residency.update({Residency.person: known["id"]}).where(Residency.person == person["id"])
    await Person.delete().where(Person.id == person["id"])
    return known["id"]


async def reject(who: Principal, residency_id: int, reason: str, ip: str) -> ResidencyOut:
    if not reason.strip():
        raise Invalid("required", "Give a reason for rejecting", field="reason")
    row = await _authorized_residency(who, residency_id, Action.VERIFY)
    outcome = await _decide(
        who, row, Action.VERIFY, ResidencyStatus.REJECTED, reason, ip, (ResidencyStatus.PENDING,)
    )
    await wakeup.changed([row["community"]])
    return outcome


async def deregister(ctx: Context, who: Principal, residency_id: int, reason: str, ip: str) -> ResidencyOut:
    if not reason.strip():
        raise Invalid("required", "Give a reason for deregistering", field="reason")
    row = await _authorized_residency(who, residency_id, Action.DEREGISTER)
    async with writing(Residency._meta.db) as writer:
        outcome = await _decide(who, row, Action.DEREGISTER, ResidencyStatus.ENDED, reason, ip, CURRENT)
        if row["status"] == ResidencyStatus.VERIFIED:  # the platform knew it: tell it it has ended
            await uplink.owe_ybss(writer, ctx, (residency_id, row["community"]), "deregister")
    await wakeup.changed([row["community"]])
    return outcome


async def correct(
    ctx: Context, who: Principal, residency_id: int, data: CorrectionIn, ip: str
) -> ResidencyOut:
    """Police put right a residency verified by mistake; it stays verified (not a deregistration)."""
    row = await _authorized_residency(who, residency_id, Action.CORRECT_RESIDENCY)
    reason = plain_text(data.reason, "reason")
    if not reason:
        raise Invalid("required", "Give a reason for the correction", field="reason")
    if row["status"] != ResidencyStatus.VERIFIED:
        raise Conflict("wrong_status", f"Residency is {row['status']}, only verified ones are corrected")
    new_category = data.residence_category or row["residence_category"]
    unlink = data.wrong_person and row["account"] is not None
    if new_category == row["residence_category"] and not unlink:
        raise Invalid("nothing_to_correct", "Change the category or unlink the wrong person")
    correction = ResidencyCorrection(
        residency=residency_id,
        corrected_by=who.account_id,
        reason=reason,
        category_from=row["residence_category"],
        category_to=new_category,
        account_unlinked=unlink,
    )
    async with writing(Residency._meta.db) as writer:
        await Person.update({Person.residence_category: new_category}).where(Person.id == row["person"])
        if unlink:
            await Residency.update({Residency.account: None}).where(Residency.id == residency_id)
        await correction.save()
        await audit.record(
            who,
            "correct_residency",
            f"residency:{residency_id}",
            community=row["community"],
            ip=ip,
            detail={"reason": correction.reason, **_correction_changes(correction.to_dict())},
        )
        await uplink.owe_ybss(writer, ctx, (residency_id, row["community"]), "correct", str(correction.id))
        shown_in = await _communities_showing(row["person"])
    await wakeup.changed(shown_in)
    return ResidencyOut(residency_id=residency_id, status=ResidencyStatus.VERIFIED)


def _correction_changes(row: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if row["category_from"] != row["category_to"]:
        changes["residence_category"] = [row["category_from"], row["category_to"]]
    if row["account_unlinked"]:
        changes["account_unlinked"] = True
    return changes


async def history(who: Principal, residency_id: int, ip: str) -> list[HistoryEntry]:
    """Registration, decision and every correction of a residency, oldest first."""
    row = await _authorized_residency(who, residency_id, Action.VIEW_RESIDENCY_HISTORY)
    corrections = (
        await ResidencyCorrection.select()
        .where(ResidencyCorrection.residency == residency_id)
        .order_by(ResidencyCorrection.id)
    )
    names = await _account_names(
        {a for a in (row["registered_by"], row["decided_by"], *(c["corrected_by"] for c in corrections)) if a}
    )
    entries = [
        HistoryEntry(
            at=row["registered_at"],
            action="register",
            by=names.get(row["registered_by"], "self"),
            changes={"proposed_category": row["proposed_category"]} if row["proposed_category"] else {},
        )
    ]
    if row["decided_at"]:
        entries.append(
            HistoryEntry(
                at=row["decided_at"],
                action=row["status"],
                by=names.get(row["decided_by"], ""),
                reason=row["decision_reason"],
            )
        )
    entries += [
        HistoryEntry(
            at=c["corrected_at"],
            action="correct",
            by=names.get(c["corrected_by"], ""),
            reason=c["reason"],
            changes=_correction_changes(c),
        )
        for c in corrections
    ]
    await audit.record_read(
        who, "read_residency_history", f"residency:{residency_id}", community=row["community"], ip=ip
    )
    return entries


async def household_history(ctx: Context, who: Principal, house_id: int, ip: str) -> list[PastOrPresent]:
    """Every residency a flat has had (ended and refused ones too), oldest first."""
    target = await house_target(house_id)
    authorize(who, Action.VIEW_RESIDENCY_HISTORY, target)
    viewer = viewer_for(who, target)
    rows = await Residency.raw(PERIODS_SQL + "WHERE r.house = {} ORDER BY r.id", house_id)
    await audit.record_read(
        who,
        "read_household_history",
        f"house:{house_id}",
        community=target.community_id,
        ip=ip,
        detail={"people": [row["person_id"] for row in rows]},
    )
    return [
        PastOrPresent(
            resident=resident_view(ctx, viewer, row), start_date=row["start_date"], end_date=row["end_date"]
        )
        for row in rows
    ]


async def key_persons(ctx: Context, who: Principal, community_id: int, ip: str) -> list[KeyPerson]:
    """The community's current residents flagged 重点 (flags are sealed: each row is opened here)."""
    target = await community_target(community_id)
    authorize(who, Action.VIEW_KEY_PERSONS, target)
    viewer = viewer_for(who, target)
    rows = await Residency.raw(
        RESIDENTS_SQL + "WHERE r.community = {} AND r.status = 'verified' ORDER BY a.code, r.id", community_id
    )
    flagged = [row for row in rows if _key_flag(ctx, row["key_sealed"])["key_person"]]
    await audit.record_read(
        who,
        "read_key_persons",
        f"community:{community_id}",
        community=community_id,
        ip=ip,
        detail={"people": [row["person_id"] for row in flagged]},
    )
    return [
        KeyPerson(resident=resident_view(ctx, viewer, row), house_id=row["house"], address=row["address"])
        for row in flagged
    ]


async def flag_key_person(
    ctx: Context, who: Principal, person_id: int, key_person: bool, category: str, ip: str
) -> None:
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
    sealed = sealed_key_flag(ctx, key_person, category if key_person else "")
    async with transaction(Person._meta.db):
        await Person.update({Person.key_sealed: sealed}).where(Person.id == person_id)
        await audit.record(
            who,
            "flag_key_person",
            f"person:{person_id}",
            community=permitted[0].community_id,
            ip=ip,
            detail={"key_person": key_person},
        )
        shown_in = await _communities_showing(person_id)
    await wakeup.changed(shown_in)


# Where scans may show a person: the communities of their residencies and of the flats they own.
PERSON_COMMUNITIES = (
    "SELECT community FROM residency WHERE person = {} UNION SELECT community FROM owner WHERE person = {}"
)


async def _communities_showing(person_id: int) -> list[int]:
    """Whose scans to refresh once a change to the person commits (read in its transaction)."""
    rows = await Residency.raw(PERSON_COMMUNITIES, person_id, person_id)
    return [row["community"] for row in rows]


# --- reads ---------------------------------------------------------------------


def unsealed(ctx: Context, row: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """``row`` with the sealed fields ``fields`` names opened: one unseal per field shown."""
    record = dict(row)
    if "id_number" in fields:
        record["id_number"] = ctx.keys.unseal(row["id_number_encrypted"])
    if "phone" in fields and row["phone_sealed"]:
        record["phone"] = ctx.keys.unseal(row["phone_sealed"])
    if "key_person" in fields:
        record.update(_key_flag(ctx, row["key_sealed"]))
    return record


# Hand-written SQL for the reads on the scan path: building the equivalent Piccolo query
# with its joins cost more CPU than running it (bench/scan.py). Portable to both engines.
# A residency with its person, over ``residency r``, ``person p`` and the flat's ``address a``;
# the verification queue and the doorplate scan (which joins them to the plate) select these.
# A category only proposed (empty on the person) reads as none.
RESIDENT_COLUMNS = (
    ("r.id", "residency_id"),
    ("r.status", "status"),
    ("r.relation", "relation"),
    ("r.registered_at", "registered_at"),
    ("r.registered_by", "registered_by"),
    ("r.community", "community"),
    ("r.house", "house"),
    ("r.proposed_category", "proposed_category"),
    ("p.id", "person_id"),
    ("p.name", "name"),
    ("NULLIF(p.residence_category, '')", "residence_category"),
    ("p.gender", "gender"),
    ("p.birth_date", "birth_date"),
    ("p.phone_sealed", "phone_sealed"),
    ("p.id_type", "id_type"),
    ("p.id_number_encrypted", "id_number_encrypted"),
    ("p.id_number_hash", "id_number_hash"),
    ("p.key_sealed", "key_sealed"),
    ("p.occupation", "occupation"),
    ("p.education", "education"),
    ("p.marital_status", "marital_status"),
    ("p.native_place", "native_place"),
    ("p.service_place", "service_place"),
    ("r.lodging", "lodging"),
    ("a.text", "address"),
)


def select_list(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{expression} AS {alias}" for expression, alias in columns)


RESIDENTS_FROM = """
FROM residency r
JOIN person p ON p.id = r.person
JOIN house h ON h.id = r.house
JOIN address a ON a.id = h.address
"""
RESIDENTS_SQL = f"SELECT {select_list(RESIDENT_COLUMNS)} {RESIDENTS_FROM}"
# The same with each residency's period: a flat's history lists ended ones too.
PERIODS_SQL = (
    f"SELECT {select_list((*RESIDENT_COLUMNS, ('r.start_date', 'start_date'), ('r.end_date', 'end_date')))} "
    f"{RESIDENTS_FROM}"
)


def resident_view(ctx: Context, viewer: Viewer, row: dict[str, Any]) -> ResidentView:
    return ResidentView(**project_person(viewer, unsealed(ctx, row, person_fields(viewer))))


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
            id=r["id"],
            name=r["name"],
            tier=r["tier"],
            street=r["street"],
            police_station=r["police_station"],
            district_id=r["district"],
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
    matches, here = await _same_people(ctx, rows)
    registrars = await _account_names({r["registered_by"] for r in rows if r["registered_by"]})
    items = [
        QueueItem(
            residency_id=row["residency_id"],
            community=CommunityRef(id=row["community"], name=names[row["community"]]),
            address=row["address"],
            registered_at=row["registered_at"],
            registered_by=registrars.get(row["registered_by"], "self"),
            person=resident_view(ctx, viewer, row),
            proposed_category=row["proposed_category"] or None,
            same_person_as=_match_view(ctx, viewer, matches.get(row["residency_id"])),
            already_registered_here=row["residency_id"] in here,
        )
        for row in rows
    ]
    shown = [i.person.person_id for i in items] + [
        i.same_person_as.person_id for i in items if i.same_person_as
    ]
    await audit.record_read(
        who, "read_queue", "verification_queue", ip=ip, detail={"count": len(rows), "people": shown}
    )
    return items


SAME_PERSON_SQL = """
SELECT p.id AS person_id, p.name, p.gender, p.birth_date, p.phone_sealed, p.id_type, p.id_number_encrypted,
       p.id_number_hash, p.key_sealed, NULLIF(p.residence_category, '') AS residence_category
FROM person p
"""


async def _same_people(
    ctx: Context, rows: list[dict[str, Any]]
) -> tuple[dict[int, dict[str, Any]], set[int]]:
    """Known people with the same document as pending registrations (by residency id), and the
    residencies whose document already lives (pending or verified) at that address.
    """
    documents = {row["residency_id"]: _document_hash(ctx, row) for row in rows}
    if not documents:
        return {}, set()
    hashes = set(documents.values())
    people = await Person.raw(
        SAME_PERSON_SQL + f"WHERE p.id_number_hash IN ({placeholders(hashes)})", *hashes
    )
    by_hash = {p["id_number_hash"]: p for p in people}
    matches = {rid: by_hash[h] for rid, h in documents.items() if h in by_hash}
    current = await Residency.select(Residency.person, Residency.house).where(
        Residency.person.is_in([p["person_id"] for p in people] or [0]) & Residency.status.is_in(CURRENT)
    )
    homes = {(r["person"], r["house"]) for r in current}
    here = {
        row["residency_id"]
        for row in rows
        if row["residency_id"] in matches
        and (matches[row["residency_id"]]["person_id"], row["house"]) in homes
    }
    seen = set()
    for row in rows:  # oldest first: later registrations of a document already pending here
        key = (documents[row["residency_id"]], row["house"])
        if key in seen:
            here.add(row["residency_id"])
        seen.add(key)
    return matches, here


def _match_view(ctx: Context, viewer: Viewer, person: dict[str, Any] | None) -> SamePerson | None:
    if person is None:
        return None
    shown = project_person(viewer, unsealed(ctx, person, person_fields(viewer)))
    return SamePerson(**{k: v for k, v in shown.items() if k in SamePerson.__struct_fields__})


async def _account_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await Account.select(Account.id, Account.name, Account.phone).where(Account.id.is_in(list(ids)))
    return {r["id"]: r["name"] or r["phone"] for r in rows}


HOUSES_VERIFIED_SQL = """
SELECT COUNT(*) AS total,
       SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM residency p WHERE p.house = h.id AND p.status = 'pending')
                 AND (h.use = 'vacant'
                      OR EXISTS (SELECT 1 FROM residency v WHERE v.house = h.id AND v.status = 'verified'))
           THEN 1 ELSE 0 END) AS verified
FROM house h WHERE h.community = {}
"""


async def verification_counts(community_id: int) -> dict[str, tuple[int, int]]:
    """(verified, total) of each kind of record the 核实率 counts, by kind.

    - ``people``: current residencies, verified out of verified + pending;
    - ``houses``: every flat; one is verified when no registration waits there and it has a
      verified resident or is recorded vacant (a flat nobody has declared is not verified);
    - ``organisations``: 实有单位, verified out of verified + pending.
    """
    people_verified = await Residency.count().where(
        (Residency.community == community_id) & (Residency.status == ResidencyStatus.VERIFIED)
    )
    people_pending = await Residency.count().where(
        (Residency.community == community_id) & (Residency.status == ResidencyStatus.PENDING)
    )
    houses = (await House.raw(HOUSES_VERIFIED_SQL, community_id))[0]
    orgs_verified = await Organisation.count().where(
        (Organisation.community == community_id) & (Organisation.status == ResidencyStatus.VERIFIED)
    )
    orgs_pending = await Organisation.count().where(
        (Organisation.community == community_id) & (Organisation.status == ResidencyStatus.PENDING)
    )
    return {
        "people": (people_verified, people_verified + people_pending),
        "houses": (int(houses["verified"] or 0), int(houses["total"] or 0)),
        "organisations": (orgs_verified, orgs_verified + orgs_pending),
    }


HOUSEHOLD_ACCOUNTS = (
    "SELECT DISTINCT account FROM residency WHERE house = {} AND status = {} AND account IS NOT NULL "
    "ORDER BY account"
)


async def household_accounts(writer: Writer, house_id: int) -> list[int]:
    """The accounts of a flat's verified residents, read inside another domain's write (an alarm)."""
    rows = await writer.fetch(HOUSEHOLD_ACCOUNTS, house_id, ResidencyStatus.VERIFIED.value)
    return [row["account"] for row in rows]


COMMUNITY_ACCOUNTS = (
    "SELECT DISTINCT account FROM residency WHERE community = {} AND status = {} AND account IS NOT NULL "
    "ORDER BY account"
)


async def community_accounts(writer: Writer, community_id: int) -> list[int]:
    """The accounts of a community's verified residents, read inside another domain's write (a notice)."""
    rows = await writer.fetch(COMMUNITY_ACCOUNTS, community_id, ResidencyStatus.VERIFIED.value)
    return [row["account"] for row in rows]


async def flat_resident(ctx: Context, house_id: int, person_id: int) -> dict[str, Any] | None:
    """A verified resident of the flat: their name and phone, and the flat (address, building, unit)."""
    row = await (
        Residency.select(
            Residency.person.name.as_alias("name"),
            Residency.person.phone_sealed.as_alias("phone_sealed"),
            Residency.house.as_alias("id"),
            Residency.house.building.as_alias("building"),
            Residency.house.unit.as_alias("unit"),
            Residency.house.address.text.as_alias("address"),
        )
        .where(
            (Residency.house == house_id)
            & (Residency.person == person_id)
            & (Residency.status == ResidencyStatus.VERIFIED)
        )
        .first()
    )
    if row is None:
        return None
    sealed = row.pop("phone_sealed")
    return {**row, "phone": ctx.keys.unseal(sealed) if sealed else ""}


async def community_tier(community_id: int) -> Tier:
    row = await Community.select(Community.tier).where(Community.id == community_id).first()
    if row is None:
        raise NotFound("unknown_community", f"No community {community_id}")
    return Tier(row["tier"])


async def set_tier(community_id: int, tier: Tier) -> None:
    """The community's tier (示范/标准) the acceptance is held against; the caller authorizes and audits."""
    await Community.update({Community.tier: tier}).where(Community.id == community_id)
