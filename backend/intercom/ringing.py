"""The ring: a panel's call rings the household's members one after the other, then is missed.

Shared by the bridge (a panel's ``call`` events, and the job that moves rings on) and the app (a
member answering or hanging up). Every change of a call is one conditional ``UPDATE`` (on its state
and ring position), so two bridge workers, or a member answering as the ring moves on, never both
win; each change is announced (``live/outbox.py``) in the same transaction: the household's stream
carries it, and the member rung now also gets a web push.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from backend.db import is_postgres
from backend.devices.commands import CommandSender, CommandTarget
from backend.errors import DomainError
from backend.intercom.tables import IntercomCall
from backend.keys import Keys
from backend.live.outbox import PushMessage, announce
from device_bridge import store
from device_bridge.dispatch import Handlers, Message
from device_bridge.protocol import CallAction, CallData, EventType
from device_bridge.store import Writer

log = logging.getLogger("anju.intercom")
TOPIC = "call"  # the live stream's topic of call changes (private to the household: live/service.py)
PANEL_KINDS = frozenset({"intercom"})

FIND_HOUSE = "SELECT id FROM house WHERE unit = {} AND room_no = {}"
# Who is rung, in order: the verified residents with an account, householder first (registration order).
MEMBERS = (
    "SELECT r.account FROM residency r JOIN account a ON a.id = r.account "
    "WHERE r.house = {} AND r.status = 'verified' AND a.active ORDER BY r.id"
)
INSERT_CALL = (
    "INSERT INTO intercom_call (community, device, unit, house, room, panel_call, key, state, offer, "
    "ring_order, ring_index, ringing, ring_until, answered_by, started_at, answered_at, opened_at, ended_at) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}, 'ringing', {}, {}, 0, {}, {}, NULL, {}, NULL, NULL, NULL) "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)
DUE = (
    "SELECT id, community, device, house, room, panel_call, ring_order, ring_index FROM intercom_call "
    "WHERE state = 'ringing' AND ring_until <= {} ORDER BY id LIMIT 100"
)
RING_NEXT = (
    "UPDATE intercom_call SET ring_index = {}, ringing = {}, ring_until = {} "
    "WHERE id = {} AND state = 'ringing' AND ring_index = {} RETURNING id"
)
MISS = (
    "UPDATE intercom_call SET state = 'missed', ringing = NULL, ring_until = NULL, ended_at = {}, offer = '' "
    "WHERE id = {} AND state = 'ringing' AND ring_index = {} RETURNING id"
)
# The visitor hung up: a call nobody answered is missed, an answered one ended.
PANEL_HANGUP = (
    "UPDATE intercom_call SET state = CASE WHEN state = 'ringing' THEN 'missed' ELSE 'ended' END, "
    "ringing = NULL, ring_until = NULL, ended_at = {}, offer = '' "
    "WHERE device = {} AND panel_call = {} AND state IN ('ringing', 'answered', 'opened') "
    "RETURNING id, community, house, state"
)
PANEL = (
    "SELECT v.code, v.secret_sealed, c.code AS community_code FROM device v "
    "JOIN community c ON c.id = v.community WHERE v.id = {}"
)


def register(handlers: Handlers, ring_seconds: float) -> None:
    async def calls(writer: Writer, messages: Sequence[Message]) -> None:
        await handle_calls(writer, messages, ring_seconds)

    handlers.on(calls, types={EventType.CALL})


def _now() -> datetime:
    return datetime.now(UTC)


def ring_push(call_id: int, room: str) -> PushMessage:
    return PushMessage(
        title="访客呼叫 · Visitor calling",
        body=f"单元门口 {room} 室有访客 / a visitor at the unit door for {room}",
        url=f"/intercom?call={call_id}",
        tag=f"call:{call_id}",
        urgency="high",
    )


async def changed(
    writer: Writer,
    *,
    community: int,
    call_id: int,
    house: int | None,
    state: str,
    ringing: int | None = None,
    room: str = "",
) -> None:
    """Announce a call's change to its household's stream, and ring ``ringing``'s phones."""
    if house is None:  # a call to no flat: nobody's to hear of
        return
    payload = {"id": call_id, "house": house, "state": state, "ringing": ringing}
    if ringing is None:
        await announce(writer, community=community, topic=TOPIC, payload=payload)
    else:
        await announce(
            writer,
            community=community,
            topic=TOPIC,
            payload=payload,
            push_to=[ringing],
            push=ring_push(call_id, room),
        )


async def handle_calls(writer: Writer, messages: Sequence[Message], ring_seconds: float) -> None:
    for message in messages:
        if message.device.kind not in PANEL_KINDS:
            log.warning("call event from %s, which is no intercom panel: ignored", message.device.code)
            continue
        data: CallData = message.data
        if data.action is CallAction.RING:
            await _ring(writer, message, data, ring_seconds)
        else:
            await _panel_hung_up(writer, message, data)


async def _ring(writer: Writer, message: Message, data: CallData, ring_seconds: float) -> None:
    device = message.device
    house = None
    if device.unit is not None and data.house:
        found = await writer.fetch(FIND_HOUSE, device.unit, data.house)
        house = found[0]["id"] if found else None
    members: list[int] = []
    if house is not None:
        for row in await writer.fetch(MEMBERS, house):
            if row["account"] not in members:
                members.append(row["account"])
    now = _now()
    first = members[0] if members else None
    # Nobody to ring (no such flat, nobody with an account): due at once, so the ring job misses it.
    until = now + timedelta(seconds=ring_seconds) if first is not None else now
    inserted = await writer.fetch(
        INSERT_CALL,
        device.community,
        device.id,
        device.unit,
        house,
        data.house,
        data.call,
        f"ring:{message.key}",
        data.sdp,
        _json(members),
        first,
        writer.at(until),
        writer.at(now),
    )
    if not inserted:  # a redelivered (or replayed within the skew window) ring: the call exists
        return
    call_id = inserted[0]["id"]
    await changed(
        writer,
        community=device.community,
        call_id=call_id,
        house=house,
        state="ringing",
        ringing=first,
        room=data.house,
    )


async def _panel_hung_up(writer: Writer, message: Message, data: CallData) -> None:
    for row in await writer.fetch(PANEL_HANGUP, writer.at(_now()), message.device.id, data.call):
        await changed(
            writer, community=row["community"], call_id=row["id"], house=row["house"], state=row["state"]
        )


async def panel_target(writer: Writer, keys: Keys, device_id: int) -> CommandTarget:
    """Where a panel's commands go, signed with its secret."""
    [row] = await writer.fetch(PANEL, device_id)
    return CommandTarget(
        community=row["community_code"], device=row["code"], secret=keys.unseal(row["secret_sealed"]).encode()
    )


async def tell_panel(sender: CommandSender, target: CommandTarget, call: str, reason: str) -> None:
    """Tell the panel a call is over (best effort: a panel also gives up on its own)."""
    try:
        await sender.send(
            target, f"hangup-{target.device}-{call}"[:64], "hangup", {"call": call, "reason": reason}
        )
    except DomainError as exc:
        log.warning("panel %s not told that call %s is over: %s", target.device, call, exc.message)


async def move_rings(
    transaction: Callable[[], AbstractAsyncContextManager[Writer]],
    sender: CommandSender,
    keys: Keys,
    ring_seconds: float,
    now: datetime | None = None,
) -> list[int]:
    """Every ring whose time is up moves to the next member, or the call is missed (and the panel
    told); the ids of the calls missed. Run every second by the bridge; ``now`` for tests."""
    now = now or _now()
    missed: list[int] = []
    # A plain read first: on SQLite a writer takes the one write lock, and this runs every second.
    engine = IntercomCall._meta.db
    due = await IntercomCall.raw(DUE, store.timestamp(now, is_postgres(engine)))
    for call in due:
        order = _decoded(call["ring_order"])
        index = call["ring_index"] + 1
        async with transaction() as writer:
            if index < len(order):
                until = writer.at(now + timedelta(seconds=ring_seconds))
                if await writer.fetch(RING_NEXT, index, order[index], until, call["id"], call["ring_index"]):
                    await changed(
                        writer,
                        community=call["community"],
                        call_id=call["id"],
                        house=call["house"],
                        state="ringing",
                        ringing=order[index],
                        room=call["room"],
                    )
                continue
            if not await writer.fetch(MISS, writer.at(now), call["id"], call["ring_index"]):
                continue
            await changed(
                writer, community=call["community"], call_id=call["id"], house=call["house"], state="missed"
            )
            target = await panel_target(writer, keys, call["device"])
        missed.append(call["id"])
        await tell_panel(sender, target, call["panel_call"], "missed")
    return missed


def _decoded(value: Any) -> list[int]:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else list(value or [])


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()
