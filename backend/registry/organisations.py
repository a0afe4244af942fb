"""实有单位: organisations in a community (shops, offices, schools, the property company).

Property staff and police keep the list. What the police register is verified at once; what the
property registers waits for a police verification, and counts in the community's verification
rate (核实率) beside people and houses. Contact phones are sealed at rest; reading the list is
audited (it names people: the contacts).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.errors import Conflict, Invalid, NotFound
from backend.registry.enums import ResidencyStatus
from backend.registry.schemas import OrganisationIn, OrganisationOut
from backend.registry.service import community_target
from backend.registry.tables import Address, Organisation
from backend.text import plain_text
from roles import Action, Principal, Role, Target, authorize, is_allowed
from roles.masking import mask_phone

# GB 32100-2015 统一社会信用代码: 18 characters of this alphabet (no I, O, S, V, Z), the last a check.
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
PHONE_CHARS = frozenset("0123456789-+ ")


def credit_check_character(first17: str) -> str:
    """The check character GB 32100 computes from the first 17 characters."""
    total = sum(CREDIT_ALPHABET.index(ch) * w for ch, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` is not a unified social credit code (None: it is one)."""
    if len(code) != 18:
        return f"is {len(code)} characters, a unified social credit code has 18"
    if any(ch not in CREDIT_ALPHABET for ch in code):
        return "has a character outside GB 32100's alphabet (digits and A-Y without I, O, S, V, Z)"
    expected = credit_check_character(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}, expected {expected!r}"
    return None


async def _clean(community_id: int, data: OrganisationIn) -> dict[str, Any]:
    name = plain_text(data.name, "name")
    if not name:
        raise Invalid("required", "The organisation's name is required", field="name")
    credit = data.credit_code.strip().upper()
    if credit and (why := credit_code_problem(credit)):
        raise Invalid("invalid_credit_code", f"Unified social credit code {why}", field="credit_code")
    phone = data.contact_phone.strip()
    if phone and (not set(phone) <= PHONE_CHARS or sum(ch.isdigit() for ch in phone) < 7):
        raise Invalid(
            "invalid_phone", "Contact phone must be a phone number (digits, -, +)", field="contact_phone"
        )
    place = plain_text(data.place, "place")
    if data.address_id is not None:
        address = (
            await Address.select(Address.text)
            .where((Address.id == data.address_id) & (Address.community == community_id))
            .first()
        )
        if address is None:
            raise Invalid("unknown_address", "No such standard address in this community", field="address_id")
        place = place or address["text"]
    return {
        "name": name,
        "credit_code": credit,
        "kind": data.kind,
        "place": place,
        "address": data.address_id,
        "contact_name": plain_text(data.contact_name, "contact_name"),
        "contact_phone": phone,
    }


def _out(ctx: Context, who: Principal, target: Target, row: dict[str, Any]) -> OrganisationOut:
    phone = ctx.keys.unseal(row["contact_phone_sealed"]) if row["contact_phone_sealed"] else ""
    if phone and not is_allowed(who, Action.MANAGE_ORGANISATIONS, target):
        phone = mask_phone(phone)
    return OrganisationOut(
        id=row["id"],
        community_id=row["community"],
        name=row["name"],
        credit_code=row["credit_code"],
        kind=row["kind"],
        place=row["place"],
        address_id=row["address"],
        contact_name=row["contact_name"],
        contact_phone=phone,
        status=row["status"],
        registered_at=row["registered_at"],
    )


async def list_organisations(
    ctx: Context, who: Principal, community_id: int, ip: str
) -> list[OrganisationOut]:
    target = await community_target(community_id)
    authorize(who, Action.VIEW_ORGANISATIONS, target)
    rows = await Organisation.select().where(Organisation.community == community_id).order_by(Organisation.id)
    await audit.record_read(
        who, "read_organisations", f"community:{community_id}", community=community_id, ip=ip,
        detail={"count": len(rows)},
    )  # fmt: skip
    return [_out(ctx, who, target, row) for row in rows]


async def create(
    ctx: Context, who: Principal, community_id: int, data: OrganisationIn, ip: str
) -> OrganisationOut:
    target = await community_target(community_id)
    authorize(who, Action.MANAGE_ORGANISATIONS, target)
    fields = await _clean(community_id, data)
    police = who.role is Role.POLICE  # the police's own registration needs no second look
    now = dt.datetime.now(dt.UTC)
    row = Organisation(
        community=community_id,
        **{k: v for k, v in fields.items() if k != "contact_phone"},
        contact_phone_sealed=ctx.keys.seal(fields["contact_phone"]) if fields["contact_phone"] else "",
        status=ResidencyStatus.VERIFIED if police else ResidencyStatus.PENDING,
        registered_by=who.account_id,
        decided_by=who.account_id if police else None,
        decided_at=now if police else None,
    )
    async with transaction(Organisation._meta.db):
        await row.save()
        await audit.record(
            who, "create_organisation", f"organisation:{row.id}", community=community_id, ip=ip,
            detail={"name": fields["name"], "status": row.status},
        )  # fmt: skip
    return _out(ctx, who, target, (await _row(row.id)))


async def _row(organisation_id: int) -> dict[str, Any]:
    row = (
        await Organisation.select(
            Organisation.all_columns(), Organisation.community.district.as_alias("district")
        )
        .where(Organisation.id == organisation_id)
        .first()
    )
    if row is None:
        raise NotFound("unknown_organisation", f"No organisation {organisation_id}")
    return row


async def _authorized(who: Principal, organisation_id: int, action: Action) -> tuple[dict[str, Any], Target]:
    row = await _row(organisation_id)
    target = Target(community_id=row["community"], district_id=row["district"])
    authorize(who, action, target)
    return row, target


async def update(
    ctx: Context, who: Principal, organisation_id: int, data: OrganisationIn, ip: str
) -> OrganisationOut:
    """Replace an organisation's details. A change by the property sends it back to verification."""
    row, target = await _authorized(who, organisation_id, Action.MANAGE_ORGANISATIONS)
    fields = await _clean(row["community"], data)
    values: dict[Any, Any] = {
        Organisation._meta.get_column_by_name(k): v for k, v in fields.items() if k != "contact_phone"
    }
    values[Organisation.contact_phone_sealed] = (
        ctx.keys.seal(fields["contact_phone"]) if fields["contact_phone"] else ""
    )
    if who.role is not Role.POLICE:
        values[Organisation.status] = ResidencyStatus.PENDING
    async with transaction(Organisation._meta.db):
        await Organisation.update(values).where(Organisation.id == organisation_id)
        await audit.record(
            who, "update_organisation", f"organisation:{organisation_id}", community=row["community"], ip=ip,
            detail={"name": fields["name"]},
        )  # fmt: skip
    return _out(ctx, who, target, await _row(organisation_id))


async def verify(ctx: Context, who: Principal, organisation_id: int, ip: str) -> OrganisationOut:
    row, target = await _authorized(who, organisation_id, Action.VERIFY_ORGANISATION)
    if row["status"] != ResidencyStatus.PENDING:
        raise Conflict("wrong_status", f"Organisation is {row['status']}, cannot verify")
    async with transaction(Organisation._meta.db):
        await Organisation.update(
            {
                Organisation.status: ResidencyStatus.VERIFIED,
                Organisation.decided_by: who.account_id,
                Organisation.decided_at: dt.datetime.now(dt.UTC),
            }
        ).where(Organisation.id == organisation_id)
        await audit.record(
            who, "verify_organisation", f"organisation:{organisation_id}", community=row["community"], ip=ip
        )
    return _out(ctx, who, target, await _row(organisation_id))


async def remove(who: Principal, organisation_id: int, ip: str) -> None:
    """An organisation that left the community (or was entered by mistake)."""
    row, _ = await _authorized(who, organisation_id, Action.MANAGE_ORGANISATIONS)
    async with transaction(Organisation._meta.db):
        await Organisation.delete().where(Organisation.id == organisation_id)
        await audit.record(
            who, "delete_organisation", f"organisation:{organisation_id}", community=row["community"], ip=ip,
            detail={"name": row["name"]},
        )  # fmt: skip
