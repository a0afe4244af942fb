"""Residents' e-bikes, their anti-theft tags, and the community's tag coverage.

An e-bike belongs to a person of a household; its tag is a credential of kind ``tag``
(backend/credentials), registered through that domain's rules (who may, one active holder per
number and community), so a tag read at a gate names its owner like any credential. Whoever may
manage the household's PINs and tags (the household's verified residents, property staff, the
community police) manages its e-bikes. Coverage (物联网防盗芯片安装率) is e-bikes carrying an active
tag over e-bikes registered.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from backend.audit import service as audit
from backend.context import Context
from backend.credentials import service as credentials
from backend.credentials.schemas import CredentialIn
from backend.credentials.tables import CredentialKind
from backend.db import transaction
from backend.ebikes.schemas import EBikeIn, EBikeOut, TagCoverage, TagIn
from backend.ebikes.tables import EBike
from backend.errors import Conflict, Invalid, NotFound
from backend.registry import service as registry
from backend.text import plain_text
from roles import Action, Principal, Target, authorize
from roles.masking import mask_id
from roles.matrix import STAFF_ROLES

COVERAGE_TARGET = 0.9  # 小区居民电动车的物联网防盗芯片安装率达到90%以上


async def register(ctx: Context, who: Principal, house_id: int, data: EBikeIn, ip: str) -> EBikeOut:
    target = await registry.house_target(house_id)
    credentials.authorize_any_kind(who, target)
    brand, colour = plain_text(data.brand, "brand"), plain_text(data.colour, "colour")
    if await registry.household_member(data.person_id, house_id, dt.date.today()) is None:
        raise Invalid(
            "not_a_member", "This person is not a verified member of the household", field="person_id"
        )
    async with transaction(EBike._meta.db):  # the tag and its bike commit together, or neither
        tag = await _register_tag(ctx, who, house_id, data.person_id, data.tag, f"{brand} {colour}", ip)
        row = EBike(
            community=target.community_id,
            house=house_id,
            person=data.person_id,
            brand=brand,
            colour=colour,
            tag=tag,
            created_by=who.account_id,
        )
        await row.save()
        await audit.record(
            who,
            "register_ebike",
            f"ebike:{row.id}",
            community=target.community_id,
            ip=ip,
            detail={"tag": tag},
        )
    return await _one(ctx, row.id)


async def _register_tag(
    ctx: Context, who: Principal, house_id: int, person: int, number: str, label: str, ip: str
) -> int | None:
    if not number:
        return None
    tag = CredentialIn(person_id=person, kind=CredentialKind.TAG, value=number, label=label.strip()[:50])
    return (await credentials.register(ctx, who, house_id, tag, ip)).id


async def add_tag(ctx: Context, who: Principal, ebike_id: int, data: TagIn, ip: str) -> EBikeOut:
    """Fit a tag to an e-bike that has none (or whose tag was revoked)."""
    row = await _row(who, ebike_id)
    if row["tag"] is not None and row["tag_revoked_at"] is None:
        raise Conflict("already_tagged", "This e-bike carries an active tag; revoke it first")
    async with transaction(EBike._meta.db):
        tag = await _register_tag(
            ctx, who, row["house"], row["person"], data.tag, f"{row['brand']} {row['colour']}", ip
        )
        await EBike.update({EBike.tag: tag}).where(EBike.id == ebike_id)
    return await _one(ctx, ebike_id)


async def remove(who: Principal, ebike_id: int, ip: str) -> None:
    """An e-bike sold or scrapped: it leaves the registry (and the coverage); its tag is revoked."""
    row = await _row(who, ebike_id)
    async with transaction(EBike._meta.db):
        if row["tag"] is not None and row["tag_revoked_at"] is None:
            await credentials.revoke(who, row["tag"], ip)
        await EBike.update({EBike.removed_at: dt.datetime.now(dt.UTC)}).where(EBike.id == ebike_id)
        await audit.record(who, "remove_ebike", f"ebike:{ebike_id}", community=row["community"], ip=ip)


async def _row(who: Principal, ebike_id: int) -> dict:
    row = await _select().where((EBike.id == ebike_id) & EBike.removed_at.is_null()).first()
    if row is None:
        raise NotFound("unknown_ebike", f"No e-bike {ebike_id}")
    credentials.authorize_any_kind(
        who, Target(community_id=row["community"], district_id=row["district"], house_id=row["house"])
    )
    return row


def _select():
    return EBike.select(
        EBike.all_columns(),
        EBike.person.name.as_alias("name"),
        EBike.community.district.as_alias("district"),
        EBike.tag.value_sealed.as_alias("tag_sealed"),
        EBike.tag.revoked_at.as_alias("tag_revoked_at"),
    )


async def household(ctx: Context, who: Principal, house_id: int, ip: str) -> list[EBikeOut]:
    target = await registry.house_target(house_id)
    credentials.authorize_any_kind(who, target)
    rows = await _select().where((EBike.house == house_id) & EBike.removed_at.is_null()).order_by(EBike.id)
    if who.role in STAFF_ROLES:
        await audit.record_read(
            who,
            "read_ebikes",
            f"house:{house_id}",
            community=target.community_id,
            ip=ip,
            detail={"people": sorted({r["person"] for r in rows})},
        )
    return [_out(ctx, row) for row in rows]


async def _one(ctx: Context, ebike_id: int) -> EBikeOut:
    return _out(ctx, await _select().where(EBike.id == ebike_id).first())


def _out(ctx: Context, row: dict) -> EBikeOut:
    tagged = row["tag"] is not None and row["tag_revoked_at"] is None
    return EBikeOut(
        id=row["id"],
        house=row["house"],
        person_id=row["person"],
        name=row["name"],
        brand=row["brand"],
        colour=row["colour"],
        tag_id=row["tag"] if tagged else None,
        tag_shown=mask_id(ctx.keys.unseal(row["tag_sealed"])) if tagged else "",
        tagged=tagged,
        created_at=row["created_at"],
    )


# --- coverage ------------------------------------------------------------------------------------


async def tag_counts(community: int | None = None) -> dict[int, tuple[int, int]]:
    """Per community (or for one): e-bikes registered, and those carrying an active tag."""
    where = EBike.removed_at.is_null()
    if community is not None:
        where &= EBike.community == community
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in await EBike.select(EBike.community, EBike.tag, EBike.tag.revoked_at.as_alias("revoked")).where(
        where
    ):
        counts[row["community"]][0] += 1
        counts[row["community"]][1] += row["tag"] is not None and row["revoked"] is None
    return {community: (ebikes, tagged) for community, (ebikes, tagged) in counts.items()}


async def coverage(who: Principal, community_id: int) -> TagCoverage:
    authorize(who, Action.VIEW_METRICS, await registry.community_target(community_id))
    ebikes, tagged = (await tag_counts(community_id)).get(community_id, (0, 0))
    return TagCoverage(
        community=community_id,
        ebikes=ebikes,
        tagged=tagged,
        coverage=tagged / ebikes if ebikes else None,
        target=COVERAGE_TARGET,
    )
