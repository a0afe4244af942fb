"""Cards, ID cards, PINs and tags of a household's people, and who holds the one a device read.

Cards and ID cards are issued by staff (property, police), who check the holder; a verified
resident adds PINs and tags for the members of their own household. A value is held by one
active credential per community. A credential opens nothing by itself: it names who passed, and
only while its holder's verified residency in that household is current, checked at each pass.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence
from typing import Any

import msgspec

from backend.audit import service as audit
from backend.context import Context
from backend.credentials.schemas import CredentialIn, CredentialIssued, CredentialOut
from backend.credentials.tables import Credential, CredentialKind
from backend.db import placeholders, transaction
from backend.errors import Conflict, Invalid, NotFound
from backend.keys import Keys
from backend.registry import service as registry
from backend.registry.idnumber import RESIDENT_ID_TYPES
from backend.text import plain_text
from device_bridge.protocol import AccessMethod
from device_bridge.store import Writer
from roles import Action, Forbidden, Principal, Target, authorize, is_allowed
from roles.masking import mask_id
from roles.matrix import STAFF_ROLES

STAFF_KINDS = frozenset({CredentialKind.CARD, CredentialKind.ID_CARD})
# The way in a device reports → the kind of credential it read.
METHOD_KINDS = {
    AccessMethod.CARD: CredentialKind.CARD,
    AccessMethod.ID_CARD: CredentialKind.ID_CARD,
    AccessMethod.PIN: CredentialKind.PIN,
    AccessMethod.TAG: CredentialKind.TAG,
}
NUMBERS = {
    CredentialKind.CARD: re.compile(r"[0-9A-F]{4,20}"),  # printed decimal, or the reader's hex UID
    CredentialKind.ID_CARD: re.compile(r"[0-9]{17}[0-9X]"),
    CredentialKind.PIN: re.compile(r"[0-9]{6}"),
    CredentialKind.TAG: re.compile(r"[0-9A-Z]{4,32}"),
}
PIN_DIGITS = 6
PIN_TRIES = 20  # a million PINs per community: a free one is found long before this


class Holder(msgspec.Struct, frozen=True):
    """Who holds a credential, as an access record names them (门禁刷卡信息 XM, GMSFHM, LD_BM)."""

    person: int
    house: int
    name: str
    id_number_sealed: str
    building_number: str


def normalised(kind: CredentialKind, value: str) -> str | None:
    """The value as stored and looked up (upper case, no spaces), or None when it is not one."""
    value = value.strip().replace(" ", "").upper()
    return value if NUMBERS[kind].fullmatch(value) else None


def lookup(keys: Keys, community: int, kind: CredentialKind, value: str) -> str:
    return keys.lookup_hash("credential", str(community), kind, value)


# --- registering ------------------------------------------------------------------


def authorize_any_kind(who: Principal, target: Target) -> None:
    if not is_allowed(who, Action.MANAGE_CREDENTIALS, target):
        authorize(who, Action.MANAGE_OWN_CREDENTIALS, target)


def _authorize(who: Principal, target: Target, kind: CredentialKind) -> None:
    authorize_any_kind(who, target)
    if kind in STAFF_KINDS and not is_allowed(who, Action.MANAGE_CREDENTIALS, target):
        raise Forbidden("staff_only", "Cards and ID cards are issued by the property office or the police")


async def register(
    ctx: Context, who: Principal, house_id: int, data: CredentialIn, ip: str
) -> CredentialIssued:
    target = await registry.house_target(house_id)
    _authorize(who, target, data.kind)
    label = plain_text(data.label, "label")
    member = await registry.household_member(data.person_id, house_id, dt.date.today())
    if member is None:
        raise Invalid(
            "not_a_member", "This person is not a verified member of the household", field="person_id"
        )
    value = _value(ctx, data, member)
    async with transaction(Credential._meta.db):
        if data.kind is CredentialKind.PIN:
            value = await _free_pin(ctx.keys, target.community_id)
        value_hash = lookup(ctx.keys, target.community_id, data.kind, value)
        # The unique active_hash decides between racing registrations: a check first would let
        # both pass and the loser's insert fail as a 500.
        inserted = (
            await Credential.insert(
                Credential(
                    community=target.community_id,
                    house=house_id,
                    person=data.person_id,
                    kind=data.kind,
                    value_hash=value_hash,
                    active_hash=value_hash,
                    value_sealed="" if data.kind is CredentialKind.PIN else ctx.keys.seal(value),
                    label=label,
                    created_by=who.account_id,
                )
            )
            .on_conflict(action="DO NOTHING")
            .returning(Credential.id, Credential.created_at)
        )
        if not inserted:
            raise Conflict("credential_in_use", "This number is already registered in this community")
        row = inserted[0]
        await audit.record(
            who,
            "register_credential",
            f"credential:{row['id']}",
            community=target.community_id,
            ip=ip,
            detail={"kind": data.kind, "person": data.person_id, "house": house_id},
        )
    pin = value if data.kind is CredentialKind.PIN else None
    return CredentialIssued(
        id=row["id"],
        person_id=data.person_id,
        name=member["name"],
        kind=data.kind,
        shown=_shown(data.kind, value),
        label=label,
        created_at=row["created_at"],
        pin=pin,
    )


def _value(ctx: Context, data: CredentialIn, member: dict[str, Any]) -> str:
    """The number to register: given (card, tag), the holder's own (ID card), issued later (PIN)."""
    if data.kind in (CredentialKind.ID_CARD, CredentialKind.PIN):
        if data.value:
            raise Invalid(
                "value_not_accepted",
                "An ID card is the holder's own and a PIN is issued by the platform: leave value empty",
                field="value",
            )
        if data.kind is CredentialKind.PIN:
            return ""
        if member["id_type"] not in RESIDENT_ID_TYPES:
            raise Invalid("no_resident_id", "This person has no 居民身份证 on record", field="kind")
        return ctx.keys.unseal(member["id_number_encrypted"])
    value = normalised(data.kind, data.value)
    if value is None:
        raise Invalid("invalid_number", f"Not a {data.kind} number", field="value")
    return value


async def _held(value_hash: str) -> bool:
    return await Credential.exists().where(Credential.active_hash == value_hash)


async def _free_pin(keys: Keys, community: int) -> str:
    """A random PIN no one in the community holds: PINs are issued, never chosen, so registering
    one cannot be used to learn which PINs open doors."""
    for _ in range(PIN_TRIES):
        pin = f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"
        if not await _held(lookup(keys, community, CredentialKind.PIN, pin)):
            return pin
    raise Conflict("no_free_pin", "No free PIN found; try again")


def _shown(kind: str, value: str) -> str:
    return "******" if kind == CredentialKind.PIN else mask_id(value)


# --- reading and revoking -------------------------------------------------------------


async def household(ctx: Context, who: Principal, house_id: int, ip: str) -> list[CredentialOut]:
    """The household's active credentials, masked; a staff read is audited with the people shown."""
    target = await registry.house_target(house_id)
    authorize_any_kind(who, target)
    rows = (
        await Credential.select(
            Credential.all_columns(exclude=[Credential.value_hash, Credential.active_hash]),
            Credential.person.name.as_alias("name"),
        )
        .where((Credential.house == house_id) & Credential.revoked_at.is_null())
        .order_by(Credential.id)
    )
    if who.role in STAFF_ROLES:
        await audit.record_read(
            who,
            "read_credentials",
            f"house:{house_id}",
            community=target.community_id,
            ip=ip,
            detail={"people": sorted({r["person"] for r in rows})},
        )
    return [
        CredentialOut(
            id=r["id"],
            person_id=r["person"],
            name=r["name"],
            kind=r["kind"],
            shown=_shown(r["kind"], ctx.keys.unseal(r["value_sealed"]) if r["value_sealed"] else ""),
            label=r["label"],
            created_at=r["created_at"],
        )
        for r in rows
    ]


async def revoke(who: Principal, credential_id: int, ip: str) -> None:
    row = (
        await Credential.select(
            Credential.id,
            Credential.community,
            Credential.house,
            Credential.kind,
            Credential.revoked_at,
            Credential.community.district.as_alias("district"),
        )
        .where(Credential.id == credential_id)
        .first()
    )
    if row is None:
        raise NotFound("unknown_credential", f"No credential {credential_id}")
    target = Target(community_id=row["community"], district_id=row["district"], house_id=row["house"])
    authorize_any_kind(who, target)  # revoking only takes away: a resident blocks a lost card at once
    if row["revoked_at"] is not None:
        raise Conflict("already_revoked", "This credential was revoked already")
    async with transaction(Credential._meta.db):
        await Credential.update(
            {
                Credential.active_hash: None,
                Credential.revoked_at: dt.datetime.now(dt.UTC),
                Credential.revoked_by: who.account_id,
            }
        ).where(Credential.id == credential_id)
        await audit.record(
            who, "revoke_credential", f"credential:{credential_id}", community=row["community"], ip=ip
        )


# --- resolving device passes ------------------------------------------------------------

HOLDERS_SQL = """
SELECT c.active_hash, c.person, c.house, p.name, p.id_number_encrypted, b.number AS building_number, r.end_date
FROM credential c
JOIN person p ON p.id = c.person
JOIN house h ON h.id = c.house
JOIN building b ON b.id = h.building
JOIN residency r ON r.person = c.person AND r.house = c.house AND r.status = 'verified'
WHERE c.active_hash IN ({})
"""


class Read(msgspec.Struct, frozen=True):
    """A credential a device read: where, how, what, when."""

    community: int
    method: str
    value: str
    at: dt.datetime


async def holders(writer: Writer, keys: Keys, reads: Sequence[Read]) -> list[Holder | None]:
    """Each read's holder (None: not a credential read, or nobody holds it), in one query.

    A holder whose residency in the credential's household had ended by the pass holds nothing:
    the credential ends with the residency, without anyone revoking it.
    """
    hashes = [_read_hash(keys, read) for read in reads]
    wanted = {h for h in hashes if h}
    if not wanted:
        return [None] * len(reads)
    rows = await writer.fetch(HOLDERS_SQL.format(placeholders(wanted)), *wanted)
    return [
        _current_holder(rows, h, read.at.date()) if h else None for h, read in zip(hashes, reads, strict=True)
    ]


def _read_hash(keys: Keys, read: Read) -> str | None:
    kind = METHOD_KINDS.get(read.method)
    value = normalised(kind, read.value) if kind else None
    return lookup(keys, read.community, kind, value) if value else None


def _current_holder(rows: list[dict[str, Any]], value_hash: str, on: dt.date) -> Holder | None:
    for row in rows:
        if row["active_hash"] == value_hash and _current(row["end_date"], on):
            return Holder(
                person=row["person"],
                house=row["house"],
                name=row["name"],
                id_number_sealed=row["id_number_encrypted"],
                building_number=row["building_number"],
            )
    return None


def _current(end_date: dt.date | str | None, on: dt.date) -> bool:
    if isinstance(end_date, str):  # SQLite through the driver: ISO text
        end_date = dt.date.fromisoformat(end_date)
    return end_date is None or end_date >= on
