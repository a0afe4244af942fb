"""Visitor passes shown at doors, as the devices report them: the server's say on each.

A door verifies the pass QR offline (qr/passes.py) and reports an access event with method
``qr_pass`` and credential ``pass:{id}``. Online, the server is the authority on what the token
cannot know: each reported opening takes one use, and an opening with a revoked, unconfirmed or
used-up pass is recorded as refused (with the reason), the visit being recorded either way.
"""

from __future__ import annotations

from collections.abc import Sequence

from device_bridge.dispatch import Handlers, Message
from device_bridge.protocol import AccessData, AccessMethod, EventType
from device_bridge.store import Writer

PREFIX = "pass:"
# One visit per device event (its key), only for a pass of the device's own community.
INSERT_VISIT = (
    "INSERT INTO visit (visitor_pass, community, door, direction, via, granted, reason, at, key) "
    "SELECT id, community, {}, {}, 'device', {}, {}, {}, {} FROM visitor_pass WHERE id = {} AND community = {} "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)
TAKE_USE = (
    "UPDATE visitor_pass SET uses_left = uses_left - 1 "
    "WHERE id = {} AND status = 'active' AND uses_left > 0 RETURNING id"
)
PASS_STATE = "SELECT status, uses_left FROM visitor_pass WHERE id = {}"
REFUSE_VISIT = "UPDATE visit SET granted = {}, reason = {} WHERE id = {}"
# What the server says of a pass that has no use to give, by its status (refusal codes: service.Refused).
REASONS = {"revoked": "revoked", "pending": "not_confirmed", "active": "used_up"}


def register(handlers: Handlers) -> None:
    handlers.on(judge_passes, types={EventType.ACCESS})


def _pass_id(data: AccessData) -> int | None:
    number = data.credential.removeprefix(PREFIX)
    if (
        data.method is not AccessMethod.QR_PASS
        or not data.credential.startswith(PREFIX)
        or not number.isdigit()
    ):
        return None
    return int(number) if int(number) < 2**31 else None


async def judge_passes(writer: Writer, messages: Sequence[Message]) -> None:
    for message in messages:
        pass_id = _pass_id(message.data)
        if pass_id is not None:
            await _judge(writer, message, pass_id)


async def _judge(writer: Writer, message: Message, pass_id: int) -> None:
    data: AccessData = message.data
    visit = await writer.fetch(
        INSERT_VISIT,
        message.device.doors.get(data.door),
        data.direction,
        data.granted,
        str(message.raw.get("reason", ""))[:20],
        writer.at(message.at),
        f"ev:{message.key}",
        pass_id,
        message.device.community,
    )
    if not visit or not data.granted:  # a redelivery, another community's pass, or refused at the door
        return
    if await writer.fetch(TAKE_USE, pass_id):
        return
    state = (await writer.fetch(PASS_STATE, pass_id))[0]
    await writer.many(REFUSE_VISIT, [(False, REASONS.get(state["status"], "revoked"), visit[0]["id"])])
