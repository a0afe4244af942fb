"""Doorplates: issuing tokens for every place, resolving a scan into the caller's view, coverage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio

from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.doorplates.cache import Fetched
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
from backend.live import wakeup
from backend.net import spend
from backend.registry import service as registry
from backend.registry.enums import PlaceKind
from backend.registry.schemas import Coverage
from backend.registry.tables import Address
from qr.sheets import Plate, layout_pages, page_svg
from qr.tokens import is_well_formed, new_plate_token, plate_url
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
    Action.PAIR_BUTTON,
)


# Hand-written: the hot path of every scan (see registry.service.RESIDENT_COLUMNS). The flat, if
# the plate is on one, comes along so a scan needs no second lookup.
PLATE_COLUMNS = (
    ("d.token", "token"),
    ("a.id", "address_id"),
    ("a.kind", "kind"),
    ("a.code", "address_code"),
    ("a.text", "address_text"),
    ("c.id", "community_id"),
    ("c.name", "community_name"),
    ("c.street", "street"),
    ("c.police_station", "police_station"),
    ("c.district", "district_id"),
    ("h.id", "house_id"),
    ("h.floor", "floor"),
    ("h.room_no", "room_no"),
    ("h.area", "area"),
    ("h.use", "use"),
    ("d.first_scanned_at", "first_scanned_at"),
)
LIVE_PLATE = """
FROM doorplate d
JOIN address a ON a.id = d.address
JOIN community c ON c.id = d.community
LEFT JOIN house h ON h.address = a.id
"""
PLATE_SQL = (
    f"SELECT {registry.select_list(PLATE_COLUMNS)} {LIVE_PLATE} WHERE d.token = {{}} AND d.revoked_at IS NULL"
)

# A signed-in caller's scan in one statement: the plate, then one row per listed resident of its
# flat (the plate's columns repeated; none when the flat is empty or the plate is on no flat),
# then one row per owner. ``part`` tells them apart. Fetched before knowing whether the caller
# may see them (that needs the plate's community): roles/ decides what is shown, and nothing is
# unsealed for a viewer who sees none of it. The owners' branch fills the other columns with
# NULL: PostgreSQL takes their types from the first branch, and so do SQLite's column types.
RESIDENT, OWNER = 0, 1
_OWNER_COLUMNS = {
    "name": "p.name",
    "phone_sealed": "p.phone_sealed",
    "id_number_encrypted": "p.id_number_encrypted",
}
_HOUSEHOLD_COLUMNS = (*PLATE_COLUMNS, *registry.RESIDENT_COLUMNS)
HOUSEHOLD_SQL = f"""
SELECT {RESIDENT} AS part, r.id AS row_id, {registry.select_list(_HOUSEHOLD_COLUMNS)}
{LIVE_PLATE}
LEFT JOIN residency r ON r.house = h.id AND r.status IN ('pending', 'verified')
LEFT JOIN person p ON p.id = r.person
WHERE d.token = {{}} AND d.revoked_at IS NULL
UNION ALL
SELECT {OWNER}, o.id, {", ".join(_OWNER_COLUMNS.get(alias, "NULL") for _, alias in _HOUSEHOLD_COLUMNS)}
FROM doorplate d
JOIN house h ON h.address = d.address
JOIN owner o ON o.house = h.id
JOIN person p ON p.id = o.person
WHERE d.token = {{}} AND d.revoked_at IS NULL
ORDER BY part, row_id
"""


async def resolve(ctx: Context, token: str, ip: str) -> dict[str, Any]:
    """The live plate behind ``token``; unknown, malformed and revoked tokens count as guesses."""
    return (await _live_plate(ctx, token, ip, PLATE_SQL, token))[0]


async def _live_plate(ctx: Context, token: str, ip: str, sql: str, *args: str) -> Fetched:
    """The rows of ``sql`` about the live plate ``token``; the plate's row comes first.

    Only misses are counted and refused: a real plate always answers, and 96-bit tokens make
    guessing hopeless anyway; the limit guards against floods of lookups that find nothing.
    A live plate's rows usually come from the scan cache (``cache.py``), kept as fetched.
    """
    rows = (
        await ctx.scans.rows((sql, token), lambda: Doorplate.raw(sql, *args)) if is_well_formed(token) else []
    )
    if not rows:
        budget = ctx.settings.scan_misses_per_minute
        await spend(ctx, "scan-miss", ip, budget=budget, seconds=60, what="unknown doorplates scanned")
        raise NotFound("unknown_plate", "This doorplate is unknown or no longer valid")
    return rows


async def scan(ctx: Context, who: Principal, token: str, ip: str) -> ScanView:
    # Anonymous callers never see a household: their scan reads the plate alone.
    signed_in = who.account_id is not None
    rows = await _live_plate(
        ctx, token, ip, *((HOUSEHOLD_SQL, token, token) if signed_in else (PLATE_SQL, token))
    )
    plate = rows[0]
    if plate["first_scanned_at"] is None:
        await _confirm_installed(plate)
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
        await _add_household(ctx, who, view, plate, rows, ip)
    return view


async def _confirm_installed(plate: dict[str, Any]) -> None:
    """A plate's first scan confirms it is installed (compliance counts installed plates, not
    printed ones). Once set, the column comes with the plate's rows: no statement of its own."""
    confirmed = (
        await Doorplate.update({Doorplate.first_scanned_at: datetime.now(UTC)})
        .where((Doorplate.token == plate["token"]) & Doorplate.first_scanned_at.is_null())
        .returning(Doorplate.id)
    )
    if confirmed:  # the scan caches hold the plate's rows without the date: every process drops them
        await wakeup.changed([plate["community_id"]])


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
    ctx: Context, who: Principal, view: ScanView, plate: dict[str, Any], rows: Fetched, ip: str
) -> None:
    house = house_at(plate)
    target = Target(community_id=plate["community_id"], district_id=plate["district_id"], house_id=house.id)
    view.viewer = viewer_for(who, target)
    view.actions = [action.value for action in allowed_actions(who, HOUSE_ACTIONS, target)]
    sections = sections_for(view.viewer)
    if "house" in sections:
        view.house = house
    shown = rows.seen_by(view.viewer, lambda: _household(ctx, view.viewer, rows))
    if "residents" in shown:
        view.residents = list(shown["residents"])
    if "owners" in shown:
        view.owners = list(shown["owners"])
    if view.viewer is not Viewer.ANONYMOUS:  # residents' reads of their household too
        await audit.record_read(
            who,
            "read_household",
            f"house:{house.id}",
            community=plate["community_id"],
            ip=ip,
            detail={"plate": plate["token"], "view": view.viewer},
        )


def _household(ctx: Context, viewer: Viewer, rows: Fetched) -> dict[str, tuple]:
    """The flat's residents and owners as ``viewer`` sees them: only the sections it sees."""
    sections, shown = sections_for(viewer), {}
    if "residents" in sections:
        listed = [row for row in rows if row["part"] == RESIDENT and row["row_id"] is not None]
        shown["residents"] = tuple(registry.resident_view(ctx, viewer, row) for row in listed)
    if "owners" in sections:
        fields = owner_fields(viewer)
        owners = [row for row in rows if row["part"] == OWNER]
        shown["owners"] = tuple(
            OwnerView(**project_owner(viewer, registry.unsealed(ctx, row, fields))) for row in owners
        )
    return shown


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
    await wakeup.changed([plate["community"]])
    return PlateReplaced(revoked=token, token=successor)


async def sheet_page(ctx: Context, who: Principal, community_id: int, page: int) -> tuple[str, int]:
    """Page ``page`` (from 1) of the community's live doorplates as printable A4 SVG, and the page count.

    The same layout as ``anju plates``; a replaced plate's successor is on it, so a lost plate is
    reprinted from here."""
    authorize(who, Action.MANAGE_PLATES, await registry.community_target(community_id))
    name = (await registry.community_names(frozenset({community_id})))[community_id]
    plates = [
        Plate(url=plate_url(ctx.settings.public_url, r["token"]), label=r["label"], kind=r["kind"])
        for r in await live_plates(community_id)
    ]
    if not plates:
        raise Invalid("no_plates", "This community has no doorplates yet: run anju plates")
    pages = layout_pages(plates, name)
    if page > len(pages):
        raise NotFound("no_such_page", f"The sheet has {len(pages)} page(s)")
    # Drawing the codes is CPU work: off the event loop.
    return await anyio.to_thread.run_sync(page_svg, pages[page - 1], name), len(pages)


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


async def live_tokens(address_ids: list[int]) -> dict[int, str]:
    """Each address's live doorplate token (addresses without one are left out)."""
    if not address_ids:
        return {}
    rows = await Doorplate.select(Doorplate.address, Doorplate.token).where(
        Doorplate.address.is_in(address_ids) & Doorplate.revoked_at.is_null()
    )
    return {row["address"]: row["token"] for row in rows}


async def installation(community_id: int) -> dict[PlaceKind, tuple[int, int, int]]:
    """Per kind of place: standard addresses, those with a live plate (issued), and those whose live
    plate has been scanned (installed: the standard's 门牌安装率 is of plates on the doors)."""
    counts = {kind: [0, 0, 0] for kind in PlaceKind}
    plates = await Doorplate.select(Doorplate.address, Doorplate.first_scanned_at).where(
        (Doorplate.community == community_id) & Doorplate.revoked_at.is_null()
    )
    scanned = {row["address"]: row["first_scanned_at"] is not None for row in plates}
    for row in await Address.select(Address.id, Address.kind).where(Address.community == community_id):
        count = counts[PlaceKind(row["kind"])]
        count[0] += 1
        count[1] += row["id"] in scanned
        count[2] += scanned.get(row["id"], False)
    return {kind: (total, issued, installed) for kind, (total, issued, installed) in counts.items()}


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
