"""The rules of a household's calls: who sees them, answers, hangs up and opens the door.

Only verified residents of the called flat (roles/: VIEW_CALLS, ANSWER_CALL, OWN_HOUSE) see a
call, its offer and the household's log; any one of them answers while it rings, the first
answer wins (a conditional update) and the others' phones stop ringing; only the member who
answered opens the door, through the access domain's door command (``open_for_call``).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.response import ServerSentEventMessage

from backend.access import service as access
from backend.access.schemas import DoorOpened
from backend.audit import service as audit
from backend.context import Context
from backend.errors import Conflict, DomainError, Invalid, NotFound
from backend.intercom import ringing
from backend.intercom.schemas import CallDetail, CallOut
from backend.intercom.tables import CallState, IntercomCall
from backend.live import stream
from backend.live.service import HEARTBEAT_SECONDS, NotAcceptable, _event_id
from backend.registry.tables import House
from device_bridge import store
from roles import Action, Principal, Target, authorize

LOG_SIZE = 50
TAKE = (
    "UPDATE intercom_call SET state = 'answered', answered_by = {}, answered_at = {}, ringing = NULL, "
    "ring_until = NULL WHERE id = {} AND state = 'ringing' RETURNING id, community, house, device, panel_call"
)
# Declined while ringing (by any member), or hung up by the member who answered.
HANG_UP = (
    "UPDATE intercom_call SET state = 'ended', ringing = NULL, ring_until = NULL, ended_at = {}, offer = '' "
    "WHERE id = {} AND (state = 'ringing' OR (state IN ('answered', 'opened') AND answered_by = {})) "
    "RETURNING id, community, house, device, panel_call"
)
OPENED = (
    "UPDATE intercom_call SET state = 'opened', opened_at = {} "
    "WHERE id = {} AND state = 'answered' RETURNING id, community, house"
)


def _now() -> datetime:
    return datetime.now(UTC)


def _columns() -> list[Any]:
    return [
        IntercomCall.id,
        IntercomCall.community,
        IntercomCall.house.as_alias("house_id"),
        IntercomCall.device,
        IntercomCall.state,
        IntercomCall.device.name.as_alias("panel"),
        IntercomCall.room,
        IntercomCall.ringing,
        IntercomCall.answered_by,
        IntercomCall.answered_by.name.as_alias("answered_by_name"),
        IntercomCall.started_at,
        IntercomCall.answered_at,
        IntercomCall.opened_at,
        IntercomCall.ended_at,
        IntercomCall.panel_call,
        IntercomCall.offer,
    ]


async def _call(call_id: int) -> dict[str, Any]:
    row = await IntercomCall.select(*_columns()).where(IntercomCall.id == call_id).first()
    if row is None or row["house_id"] is None:  # a call to no flat is nobody's
        raise NotFound("unknown_call", f"No call {call_id}")
    return row


def _target(call: dict[str, Any]) -> Target:
    return Target(community_id=call["community"], house_id=call["house_id"])


def _out(row: dict[str, Any]) -> CallOut:
    return msgspec.convert(row, CallOut, from_attributes=False, strict=False)


async def house_target(house_id: int) -> Target:
    row = await House.select(House.community).where(House.id == house_id).first()
    return Target(community_id=row["community"] if row else None, house_id=house_id)


async def household_calls(who: Principal, house_id: int) -> list[CallOut]:
    """The household's call log, newest first: answered, opened, ended and missed calls."""
    authorize(who, Action.VIEW_CALLS, await house_target(house_id))
    rows = (
        await IntercomCall.select(*_columns())
        .where(IntercomCall.house == house_id)
        .order_by(IntercomCall.id, ascending=False)
        .limit(LOG_SIZE)
    )
    return [_out(row) for row in rows]


async def call_detail(ctx: Context, who: Principal, call_id: int) -> CallDetail:
    call = await _call(call_id)
    authorize(who, Action.VIEW_CALLS, _target(call))
    offer = call["offer"] if call["state"] == CallState.RINGING else ""
    return msgspec.convert(
        {**call, "offer": offer, "ice_servers": ctx.settings.ice_servers}, CallDetail, strict=False
    )


async def watch(
    ctx: Context, who: Principal, house_id: int, *, accept: str, last_event_id: str | None
) -> AsyncIterator[ServerSentEventMessage]:
    """The household's calls as they change (``event: call``, data ``{id, house, state, ringing}``)."""
    target = await house_target(house_id)
    authorize(who, Action.VIEW_CALLS, target)
    if "text/event-stream" not in accept:
        raise NotAcceptable("stream_only", "This is an event stream: send Accept: text/event-stream")
    after = _event_id(last_event_id)
    lifetime = ctx.settings.access_token_minutes * 60

    def ours(event: stream.Event) -> bool:
        if event.topic != ringing.TOPIC:
            return False
        return msgspec.json.decode(event.payload).get("house") == house_id

    return stream.sse(
        ctx.live.hub, target.community_id, after, heartbeat=HEARTBEAT_SECONDS, lifetime=lifetime, keep=ours
    )


def _sdp(text: str) -> str:
    if not text.startswith("v=0") or "\x00" in text:
        raise Invalid("invalid_sdp", "sdp must be a WebRTC session description (v=0 …)", field="sdp")
    return text


async def answer(ctx: Context, who: Principal, call_id: int, sdp: str, ip: str) -> CallOut:
    """Take the call (the first member to answer wins) and hand the phone's answer to the panel."""
    call = await _call(call_id)
    authorize(who, Action.ANSWER_CALL, _target(call))
    sdp = _sdp(sdp)
    engine = IntercomCall._meta.db
    async with store.writer(engine) as writer:
        taken = await writer.fetch(TAKE, who.account_id, writer.at(_now()), call_id)
        if not taken:
            state = call["state"]
            if state == CallState.RINGING:  # taken between our read and our update
                state = CallState.ANSWERED
            raise Conflict(
                "call_taken" if state in (CallState.ANSWERED, CallState.OPENED) else "call_over",
                "Another member of the household answered this call"
                if state in (CallState.ANSWERED, CallState.OPENED)
                else "This call is over",
            )
        await ringing.changed(
            writer, community=call["community"], call_id=call_id, house=call["house_id"], state="answered"
        )
        target = await ringing.panel_target(writer, ctx.keys, call["device"])
    await audit.record(who, "answer_call", f"call:{call_id}", community=call["community"], ip=ip)
    try:
        ack = await ctx.commands.request(
            target,
            f"answer-{call_id}-{secrets.token_hex(6)}",
            "answer",
            {"call": call["panel_call"], "sdp": sdp},
        )
        if not ack.ok:
            raise Conflict("panel_refused", f"The panel refused the answer: {ack.reason or 'call over'}")
    except DomainError:
        await _end(ctx, call_id, who, tell=False)
        raise
    return _out(await _call(call_id))


async def _end(ctx: Context, call_id: int, who: Principal, *, tell: bool = True) -> bool:
    async with store.writer(IntercomCall._meta.db) as writer:
        ended = await writer.fetch(HANG_UP, writer.at(_now()), call_id, who.account_id)
        if not ended:
            return False
        row = ended[0]
        await ringing.changed(
            writer, community=row["community"], call_id=call_id, house=row["house"], state="ended"
        )
        target = await ringing.panel_target(writer, ctx.keys, row["device"])
    if tell:
        await ringing.tell_panel(ctx.commands.sender, target, row["panel_call"], "ended")
    return True


async def hang_up(ctx: Context, who: Principal, call_id: int, ip: str) -> CallOut:
    """Decline a ringing call, or end the call one answered; the panel is told."""
    call = await _call(call_id)
    authorize(who, Action.ANSWER_CALL, _target(call))
    if not await _end(ctx, call_id, who):
        raise Conflict("call_over", "This call is over or was answered by another member")
    await audit.record(who, "hang_up_call", f"call:{call_id}", community=call["community"], ip=ip)
    return _out(await _call(call_id))


async def open_door(ctx: Context, who: Principal, call_id: int, ip: str) -> DoorOpened:
    """Open the panel's door for the caller: only the member who answered, while the call lasts."""
    call = await _call(call_id)
    authorize(who, Action.ANSWER_CALL, _target(call))
    if call["state"] not in (CallState.ANSWERED, CallState.OPENED) or call["answered_by"] != who.account_id:
        raise Conflict(
            "not_answered_by_you", "Only the member who answered this call opens the door, during it"
        )
    door = await access.panel_door(call["device"])
    if door is None:
        raise NotFound("no_door", "This panel opens no door")
    opened = await access.open_for_call(ctx, who, door, call_id, call["house_id"], ip)
    if opened.opened:
        async with store.writer(IntercomCall._meta.db) as writer:
            for row in await writer.fetch(OPENED, writer.at(_now()), call_id):
                await ringing.changed(
                    writer, community=row["community"], call_id=call_id, house=row["house"], state="opened"
                )
    return opened
