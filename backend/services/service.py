"""The services portal (民生服务): a community's tiles, and residents' requests to the property staff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from backend.audit import service as audit
from backend.db import transaction
from backend.errors import Conflict, Invalid, NotFound
from backend.photos import keep_photo
from backend.registry import service as registry
from backend.services.schemas import (
    CommunityTiles,
    EventOut,
    RatingIn,
    RequestIn,
    RequestOut,
    StepIn,
    TileIn,
    TileOut,
)
from backend.services.tables import (
    RequestStatus,
    ServiceRequest,
    ServiceRequestEvent,
    ServiceRequestPhoto,
    ServiceTile,
)
from backend.text import plain_text
from roles import Action, Principal, authorize, is_allowed

QUEUE_LIMIT = 200
# step → (the statuses it may leave, the status it leads to)
STEPS = {
    "take": ({RequestStatus.OPEN}, RequestStatus.TAKEN),
    "note": ({RequestStatus.TAKEN}, RequestStatus.TAKEN),
    "close": ({RequestStatus.TAKEN}, RequestStatus.CLOSED),
}
DONE = {"take": "taken", "note": "annotated", "close": "closed"}


# --- tiles --------------------------------------------------------------------------


def _tile_out(row: dict[str, Any]) -> TileOut:
    return TileOut(**{field: row[field] for field in TileOut.__struct_fields__})


async def _tiles(community_id: int, enabled_only: bool) -> list[TileOut]:
    where = ServiceTile.community == community_id
    if enabled_only:
        where &= ServiceTile.enabled.eq(True)
    rows = await ServiceTile.select().where(where).order_by(ServiceTile.position).order_by(ServiceTile.id)
    return [_tile_out(row) for row in rows]


async def tiles(who: Principal, community_id: int) -> list[TileOut]:
    """The community's tiles; its managers also see the disabled ones."""
    target = await registry.community_target(community_id)
    authorize(who, Action.VIEW_SERVICES, target)
    return await _tiles(community_id, enabled_only=not is_allowed(who, Action.MANAGE_SERVICES, target))


async def home_tiles(who: Principal) -> list[CommunityTiles]:
    """The enabled tiles of each community the resident verifiably lives in."""
    authorize(who, Action.USE_SERVICES)
    names = await registry.community_names(who.home_communities)
    return [
        CommunityTiles(
            community_id=community_id, community=name, tiles=await _tiles(community_id, enabled_only=True)
        )
        for community_id, name in sorted(names.items())
    ]


def _tile_values(data: TileIn) -> dict[str, Any]:
    return {
        "kind": data.kind,
        "title": plain_text(data.title, "title"),
        "text": plain_text(data.text, "text"),
        "hours": plain_text(data.hours, "hours"),
        "phone": data.phone.strip(),
        "url": data.url,
        "position": data.position,
        "enabled": data.enabled,
    }


async def add_tile(who: Principal, community_id: int, data: TileIn, ip: str) -> TileOut:
    authorize(who, Action.MANAGE_SERVICES, await registry.community_target(community_id))
    tile = ServiceTile(community=community_id, **_tile_values(data))
    async with transaction(ServiceTile._meta.db):
        await tile.save()
        await audit.record(who, "add_service_tile", f"service_tile:{tile.id}", community=community_id, ip=ip)
    return _tile_out(tile.to_dict())


async def change_tile(who: Principal, tile_id: int, data: TileIn, ip: str) -> TileOut:
    row = await ServiceTile.select(ServiceTile.community).where(ServiceTile.id == tile_id).first()
    if row is None:
        raise NotFound("unknown_tile", f"No service tile {tile_id}")
    authorize(who, Action.MANAGE_SERVICES, await registry.community_target(row["community"]))
    values = _tile_values(data)
    async with transaction(ServiceTile._meta.db):
        await ServiceTile.update({getattr(ServiceTile, k): v for k, v in values.items()}).where(
            ServiceTile.id == tile_id
        )
        await audit.record(
            who, "change_service_tile", f"service_tile:{tile_id}", community=row["community"], ip=ip
        )
    return TileOut(id=tile_id, **values)


# --- requests ------------------------------------------------------------------------


async def file_request(who: Principal, community_id: int, data: RequestIn) -> RequestOut:
    authorize(who, Action.REQUEST_SERVICE, await registry.community_target(community_id))
    request = ServiceRequest(
        community=community_id,
        requester=who.account_id,
        place=await registry.home_address(community_id, who.houses),
        category=data.category,
        text=plain_text(data.text, "text"),
    )
    await request.save()
    return await _request_out(request.id)


async def my_requests(who: Principal) -> list[RequestOut]:
    authorize(who, Action.USE_SERVICES)
    ids = await (
        ServiceRequest.select(ServiceRequest.id)
        .where(ServiceRequest.requester == who.account_id)
        .order_by(ServiceRequest.id, ascending=False)
        .output(as_list=True)
    )
    return [await _request_out(request_id) for request_id in ids]


async def queue(who: Principal, community_id: int, ip: str) -> list[RequestOut]:
    """The community's requests for its property staff: open ones first, then taken, then closed."""
    authorize(who, Action.HANDLE_SERVICE_REQUESTS, await registry.community_target(community_id))
    rows = await (
        ServiceRequest.select(ServiceRequest.id, ServiceRequest.status)
        .where(ServiceRequest.community == community_id)
        .order_by(ServiceRequest.id, ascending=False)
        .limit(QUEUE_LIMIT)
    )
    order = list(RequestStatus)
    rows.sort(key=lambda row: order.index(RequestStatus(row["status"])))
    await audit.record_read(
        who, "read_service_requests", f"community:{community_id}", community=community_id, ip=ip
    )
    return [await _request_out(row["id"]) for row in rows]


async def _authorized_request(who: Principal, request_id: int, action: Action) -> dict[str, Any]:
    row = await ServiceRequest.select().where(ServiceRequest.id == request_id).first()
    if row is None:
        raise NotFound("unknown_request", f"No service request {request_id}")
    authorize(who, action, await registry.community_target(row["community"], owner_id=row["requester"]))
    return row


async def view_request(who: Principal, request_id: int, ip: str) -> RequestOut:
    """One request; the requester reading it has seen its steps, a staff read is audited."""
    row = await _authorized_request(who, request_id, Action.VIEW_SERVICE_REQUEST)
    if row["requester"] == who.account_id:
        await ServiceRequestEvent.update({ServiceRequestEvent.seen_at: dt.datetime.now(dt.UTC)}).where(
            (ServiceRequestEvent.request == request_id) & ServiceRequestEvent.seen_at.is_null()
        )
    else:
        await audit.record_read(
            who, "read_service_request", f"service_request:{request_id}", community=row["community"], ip=ip
        )
    return await _request_out(request_id)


async def step(who: Principal, request_id: int, data: StepIn, ip: str) -> RequestOut:
    """Take, annotate or close a request; every step notifies the requester (an unseen event)."""
    row = await _authorized_request(who, request_id, Action.HANDLE_SERVICE_REQUESTS)
    leaves, leads_to = STEPS[data.step]
    note = plain_text(data.note, "note")
    if data.step == "note" and not note:
        raise Invalid("empty_note", "Write the note to add", field="note")
    changes: dict[Any, Any] = {ServiceRequest.status: leads_to}
    if data.step == "take":
        changes[ServiceRequest.handler] = who.account_id
    if data.step == "close":
        changes[ServiceRequest.closed_at] = dt.datetime.now(dt.UTC)
    async with transaction(ServiceRequest._meta.db):
        # Conditional on the status it leaves: of two staff taking one request, one wins.
        moved = await (
            ServiceRequest.update(changes)
            .where((ServiceRequest.id == request_id) & ServiceRequest.status.is_in(list(leaves)))
            .returning(ServiceRequest.id)
        )
        if not moved:
            raise Conflict(
                "illegal_step",
                f"A request that is {row['status']} cannot be {DONE[data.step]}"
                f" (only one that is {' or '.join(sorted(leaves))})",
            )
        await ServiceRequestEvent(
            request=request_id, account=who.account_id, step=data.step, note=note
        ).save()
        await audit.record(
            who,
            f"{data.step}_service_request",
            f"service_request:{request_id}",
            community=row["community"],
            ip=ip,
        )
    return await _request_out(request_id)


async def rate(who: Principal, request_id: int, data: RatingIn) -> RequestOut:
    """The requester rates a closed request, once."""
    await _authorized_request(who, request_id, Action.OWN_SERVICE_REQUEST)
    rated = await (
        ServiceRequest.update(
            {
                ServiceRequest.rating: data.stars,
                ServiceRequest.rating_comment: plain_text(data.comment, "comment"),
            }
        )
        .where(
            (ServiceRequest.id == request_id)
            & (ServiceRequest.status == RequestStatus.CLOSED)
            & ServiceRequest.rating.is_null()
        )
        .returning(ServiceRequest.id)
    )
    if not rated:
        raise Conflict("not_ratable", "Only a closed request can be rated, and only once")
    return await _request_out(request_id)


async def _request_out(request_id: int) -> RequestOut:
    row = (
        await ServiceRequest.select(
            ServiceRequest.all_columns(), ServiceRequest.requester.name.as_alias("requester_name")
        )
        .where(ServiceRequest.id == request_id)
        .first()
    )
    events = (
        await ServiceRequestEvent.select(
            ServiceRequestEvent.all_columns(), ServiceRequestEvent.account.name.as_alias("by")
        )
        .where(ServiceRequestEvent.request == request_id)
        .order_by(ServiceRequestEvent.id)
    )
    return RequestOut(
        id=request_id,
        community_id=row["community"],
        category=row["category"],
        text=row["text"],
        status=RequestStatus(row["status"]),
        requester=row["requester_name"],
        place=row["place"],
        created_at=row["created_at"],
        closed_at=row["closed_at"],
        has_photo=await ServiceRequestPhoto.exists().where(ServiceRequestPhoto.request == request_id),
        rating=row["rating"],
        rating_comment=row["rating_comment"],
        unseen=sum(1 for e in events if e["seen_at"] is None),
        events=[EventOut(step=e["step"], note=e["note"], by=e["by"], at=e["at"]) for e in events],
    )


async def attach_photo(
    who: Principal, request_id: int, body: Callable[[], Awaitable[bytes]], content_type: str
) -> RequestOut:
    """``body`` is read only once the caller may attach a photo to this request."""
    row = await _authorized_request(who, request_id, Action.OWN_SERVICE_REQUEST)
    if row["status"] == RequestStatus.CLOSED:
        raise Conflict("request_closed", "This request is closed")
    await keep_photo(ServiceRequestPhoto, ServiceRequestPhoto.request, request_id, body, content_type)
    return await _request_out(request_id)


async def photo(who: Principal, request_id: int, ip: str) -> bytes:
    row = await _authorized_request(who, request_id, Action.VIEW_SERVICE_REQUEST)
    found = (
        await ServiceRequestPhoto.select(ServiceRequestPhoto.data)
        .where(ServiceRequestPhoto.request == request_id)
        .first()
    )
    if found is None:
        raise NotFound("no_photo", "This request has no photo")
    if row["requester"] != who.account_id:
        await audit.record_read(
            who, "read_service_photo", f"service_request:{request_id}", community=row["community"], ip=ip
        )
    return bytes(found["data"])


async def offered_count(community_id: int) -> int:
    """How many services the community offers (民生服务, for compliance; the caller authorizes)."""
    return len(await _tiles(community_id, enabled_only=True))
