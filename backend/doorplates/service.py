"""Doorplates: issuing tokens for every place, resolving a scan into the caller's view, coverage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import msgspec

from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.doorplates.schemas import (
    AddressCard,
    CommunityCard,
    HouseCard,
    OwnerView,
    PlateRef,
    PlateReplaced,
    ScanView,
    Service,
)
from backend.doorplates.tables import Doorplate
from backend.errors import Invalid, NotFound
from backend.net import spend
from backend.registry import service as registry
from backend.registry.enums import PlaceKind
from backend.registry.schemas import Coverage
from backend.registry.tables import Address, Owner
from qr.tokens import is_well_formed, new_plate_token
from roles import (
    Action,
    Principal,
    Target,
    Viewer,
    allowed_actions,
    authorize,
    sections_for,
    viewer_for,
)
from roles.projections import owner_fields, project_owner

MPS_PORTAL = "https://zwfw.mps.gov.cn/"  # 公安部“互联网+政务服务”平台
# 流动人口自主登记 is the in-app self-registration, offered through ``actions``.
# The seed's 二维码标识承载内容: online police services and 流动人口自主登记, for everyone who scans.
PUBLIC_SERVICES = (
    Service(key="licences", title="网上警局 · 办证办照", url=MPS_PORTAL),
    Service(key="endorsement", title="出入境证件签注", url=MPS_PORTAL),
)
HOUSE_ACTIONS = (
    Action.SELF_REGISTER,
    Action.ADD_MEMBER,
    Action.REGISTER,
    Action.DEREGISTER,
    Action.VERIFY,
    Action.CORRECT_RESIDENCY,
    Action.VIEW_RESIDENCY_HISTORY,
    Action.FLAG_KEY_PERSON,
)


# Hand-written: the hot path of every scan (see registry.service.RESIDENTS_SQL). The flat, if
# the plate is on one, comes along so a scan needs no second lookup.
PLATE_SQL = """
SELECT d.token, a.id AS address_id, a.kind, a.code AS address_code, a.text AS address_text,
       c.id AS community_id, c.name AS community_name, c.street, c.police_station, c.district AS district_id,
       h.id AS house_id, h.floor, h.room_no, h.area, h.use
FROM doorplate d
JOIN address a ON a.id = d.address
JOIN community c ON c.id = d.community
LEFT JOIN house h ON h.address = a.id
WHERE d.token = {} AND d.revoked_at IS NULL
"""


async def resolve(ctx: Context, token: str, ip: str) -> dict[str, Any]:
    """The live plate behind ``token``; unknown, malformed and revoked tokens count as guesses.

    Only misses are counted and refused: a real plate always answers, and 96-bit tokens make
    guessing hopeless anyway; the limit guards against floods of lookups that find nothing.
    """
    rows = await Doorplate.raw(PLATE_SQL, token) if is_well_formed(token) else []
    if not rows:
        budget = ctx.settings.scan_misses_per_minute
        await spend(ctx, "scan-miss", ip, budget=budget, seconds=60, what="unknown doorplates scanned")
        raise NotFound("unknown_plate", "This doorplate is unknown or no longer valid")
    return rows[0]


async def scan(ctx: Context, who: Principal, token: str, ip: str) -> ScanView:
    plate = await resolve(ctx, token, ip)
    kind = PlaceKind(plate["kind"])
    view = ScanView(
        plate=PlateRef(token=plate["token"], kind=kind),
        community=CommunityCard(
            id=plate["community_id"],
            name=plate["community_name"],
            street=plate["street"],
            police_station=plate["police_station"],
        ),
        address=AddressCard(code=plate["address_code"], text=plate["address_text"]),
        viewer=Viewer.ANONYMOUS,
        services=list(PUBLIC_SERVICES),
        actions=[],
    )
    if kind is PlaceKind.HOUSE:
        await _add_household(ctx, who, view, plate, ip)
    return view


def house_at(plate: dict[str, Any]) -> HouseCard:
    """The flat a doorplate is fixed to; registration happens only at flat doors."""
    if plate["house_id"] is None:
        raise Invalid("not_a_flat", "Residents register at their flat's doorplate, not at this one")
    return HouseCard(
        id=plate["house_id"],
        floor=plate["floor"],
        room_no=plate["room_no"],
        area=plate["area"],
        use=plate["use"],
    )


async def _add_household(
    ctx: Context, who: Principal, view: ScanView, plate: dict[str, Any], ip: str
) -> None:
    house = house_at(plate)
    target = Target(community_id=plate["community_id"], district_id=plate["district_id"], house_id=house.id)
    view.viewer = viewer_for(who, target)
    view.actions = [action.value for action in allowed_actions(who, HOUSE_ACTIONS, target)]
    sections = sections_for(view.viewer)
    if "house" in sections:
        view.house = house
    residents = registry.residents_of(ctx, house.id, view.viewer) if "residents" in sections else _nothing()
    owners = _owners(ctx, house.id, view.viewer) if "owners" in sections else _nothing()
    audited = (
        audit.record_read(
            who,
            "read_household",
            f"house:{house.id}",
            community=plate["community_id"],
            ip=ip,
            detail={"plate": plate["token"], "view": view.viewer},
        )
        if view.viewer is not Viewer.ANONYMOUS  # residents' reads of their household too
        else _nothing()
    )
    # Independent round trips: overlap them.
    view.residents, view.owners, _ = await asyncio.gather(residents, owners, audited)


async def _nothing() -> msgspec.UnsetType:
    return msgspec.UNSET


async def _owners(ctx: Context, house_id: int, viewer: Viewer) -> list[OwnerView]:
    rows = await Owner.raw(
        "SELECT p.name, p.phone_sealed, p.id_number_encrypted FROM owner o JOIN person p ON p.id = o.person "
        "WHERE o.house = {} ORDER BY o.id",
        house_id,
    )
    fields = owner_fields(viewer)
    return [OwnerView(**project_owner(viewer, registry.unsealed(ctx, row, fields))) for row in rows]


async def replace_plate(who: Principal, token: str, ip: str) -> PlateReplaced:
    """Withdraw a (lost, damaged or leaked) plate and issue its successor for the same address."""
    # A malformed token (NUL included, which PostgreSQL refuses) never reaches the query.
    plate = (
        await Doorplate.select(
            Doorplate.id,
            Doorplate.address,
            Doorplate.community,
            Doorplate.community.district.as_alias("district"),
        )
        .where((Doorplate.token == token) & Doorplate.revoked_at.is_null())
        .first()
        if is_well_formed(token)
        else None
    )
    if plate is None:
        raise NotFound("unknown_plate", "This doorplate is unknown or already withdrawn")
    authorize(
        who, Action.MANAGE_PLATES, Target(community_id=plate["community"], district_id=plate["district"])
    )
    successor = new_plate_token()
    async with transaction(Doorplate._meta.db):
        await Doorplate.update({Doorplate.revoked_at: datetime.now(UTC)}).where(Doorplate.id == plate["id"])
        await Doorplate(community=plate["community"], address=plate["address"], token=successor).save()
        await audit.record(
            who, "replace_plate", f"address:{plate['address']}", community=plate["community"], ip=ip
        )
    return PlateReplaced(revoked=token, token=successor)


async def _plated_addresses(community_id: int) -> set[int]:
    rows = await Doorplate.select(Doorplate.address).where(
        (Doorplate.community == community_id) & Doorplate.revoked_at.is_null()
    )
    return {r["address"] for r in rows}


async def ensure_plates(community_id: int) -> int:
    """Give every address of the community a live doorplate; returns how many were issued."""
    addresses = await Address.select(Address.id).where(Address.community == community_id)
    covered = await _plated_addresses(community_id)
    missing = [a["id"] for a in addresses if a["id"] not in covered]
    if missing:
        async with transaction(Doorplate._meta.db):
            await Doorplate.insert(
                *(Doorplate(community=community_id, address=a, token=new_plate_token()) for a in missing)
            )
            await audit.record(
                None,
                "issue_plates",
                f"community:{community_id}",
                community=community_id,
                detail={"count": len(missing)},
            )
    return len(missing)


async def live_plates(community_id: int) -> list[dict[str, Any]]:
    return (
        await Doorplate.select(
            Doorplate.token,
            Doorplate.address.kind.as_alias("kind"),
            Doorplate.address.text.as_alias("label"),
            Doorplate.address.code.as_alias("code"),
        )
        .where((Doorplate.community == community_id) & Doorplate.revoked_at.is_null())
        .order_by(Doorplate.address.code)
    )


async def coverage(community_id: int) -> Coverage:
    """Share of standard addresses, per kind, that carry a live doorplate (target: 100 %)."""
    totals = {kind: 0 for kind in PlaceKind}
    plated = {kind: 0 for kind in PlaceKind}
    live = await _plated_addresses(community_id)
    for row in await Address.select(Address.id, Address.kind).where(Address.community == community_id):
        totals[PlaceKind(row["kind"])] += 1
        plated[PlaceKind(row["kind"])] += row["id"] in live
    share = {kind.value: (plated[kind] / totals[kind] if totals[kind] else 1.0) for kind in PlaceKind}
    overall = sum(plated.values()) / sum(totals.values()) if sum(totals.values()) else 1.0
    return Coverage(**share, overall=overall)
