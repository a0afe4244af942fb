"""Access terminals that push their events over HTTP (Hikvision ISAPI event notifications).

A terminal signs nothing, so it authenticates as its registered device (httpauth.py); its events
are translated by the same adapter as elsewhere and handed to the same handlers as the MQTT
bridge's, in one transaction: a pass pushed over HTTP and published over MQTT is stored once and
looks the same. The capture a terminal attaches is never kept (the seed forbids keeping captures
privately): the event records only that one was received.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import msgspec
from litestar import Request
from litestar.datastructures import UploadFile

from backend.context import Context
from backend.db import placeholders
from backend.devices import httpauth, ingest
from backend.devices.tables import DOOR_KINDS, DeviceKind
from backend.errors import Conflict, DomainError, Invalid
from device_bridge import protocol
from device_bridge.acl import device_password
from device_bridge.adapters import Translated, hikvision
from device_bridge.dispatch import Handlers, KnownDevice, Message, verified_message
from device_bridge.protocol import Channel, Direction, EventType

MAX_BYTES = 1024 * 1024  # the JSON part and one capture; pictures are a few hundred KB at most
SEEN_SQL = "SELECT key FROM device_event WHERE key IN ({})"
DECIDED = "SELECT passed, reason, score FROM face_passage WHERE key = {}"


class Received(msgspec.Struct):
    events: int  # access events in the notification
    stored: int  # of them new (a repeated serial is stored once)
    picture: bool  # a capture came with it (and was dropped)


class NotADoor(DomainError):
    status = 403


async def authenticated(ctx: Context, authorization: str, method: str, uri: str) -> KnownDevice:
    """The registered door device these credentials belong to; 401 with a challenge otherwise."""
    now = time.time()
    offered = httpauth.parse(authorization)
    found = await ingest.known_device(ctx.keys, offered.username) if offered and offered.username else None
    if found is None or not httpauth.verify(
        offered, device_password(found.secret), method, uri, ctx.keys, now
    ):
        raise httpauth.DeviceUnauthorized(ctx.keys, now)
    if found.kind not in DOOR_KINDS:
        raise NotADoor("not_a_door", "Only door devices push access events")
    return found


async def device_of(ctx: Context, request: Request) -> KnownDevice:
    """The door device a request's own HTTP credentials (Digest or Basic) authenticate."""
    uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return await authenticated(ctx, request.headers.get("authorization", ""), request.method, uri)


async def notification_parts(form: dict | None, body: bytes) -> tuple[bytes, bool]:
    """The event's JSON and whether a picture came along: a multipart form or a bare JSON body."""
    if form is None:
        return body, False
    event, picture = b"", False
    for value in form.values():
        if isinstance(value, UploadFile):
            if value.content_type.startswith("image/"):
                picture = True  # not read: nothing of the capture is kept
            elif not event:
                event = await value.read()
            await value.close()
        elif isinstance(value, str) and not event and value.lstrip().startswith("{"):
            event = value.encode()
    if not event:
        raise Invalid("no_event", "The notification carries no JSON event part")
    return event, picture


async def hikvision_events(ctx: Context, device: KnownDevice, payload: bytes, picture: bool) -> Received:
    try:
        items = hikvision.translate(payload, device.code)
        messages = [_message(device, item, picture) for item in items]
    except protocol.MessageError as exc:
        raise Invalid("malformed_event", str(exc)) from None
    skew = ctx.settings.device_clock_skew_seconds
    if any(abs((m.at - datetime.now(UTC)).total_seconds()) > skew for m in messages):
        raise Invalid("stale_event", f"Event time is more than {skew:g} s from the platform's clock")
    async with ingest.transaction() as writer:
        keys = [m.key for m in messages]
        seen = (
            {row["key"] for row in await writer.fetch(SEEN_SQL.format(placeholders(keys)), *keys)}
            if keys
            else set()
        )
        new = [m for m in messages if m.key not in seen]
        if messages and not new:
            raise Conflict("replayed_event", "These events (by their serial numbers) are stored already")
        await handlers(ctx).dispatch(writer, new)
    return Received(events=len(messages), stored=len(new), picture=picture)


class CaptureDecision(msgspec.Struct):
    """A face gate's answer: open or not, and why (gates.GateReason)."""

    open: bool
    reason: str
    score: float | None


class NotAFaceGate(DomainError):
    status = 403


async def face_capture(
    ctx: Context, device: KnownDevice, capture_id: str, image: bytes, direction: Direction, door: str
) -> CaptureDecision:
    """Decide on a capture a face gate posted, as the bridge decides on one it published (gates.py);
    the gate opens on the answer, so no command is sent. A repeated ``capture_id`` is answered with
    the first decision."""
    if device.kind != DeviceKind.FACE_GATE:
        raise NotAFaceGate("not_a_face_gate", "Only face gates post captures")
    if not protocol.SEGMENT.match(capture_id):
        raise Invalid("invalid_capture_id", "id: 1-64 letters, digits, '.', '_' or '-'", field="id")
    raw = {"image": base64.b64encode(image).decode(), "direction": direction, "door": door}
    message = verified_message(device, Channel.EVENT, capture_id, EventType.FACE, datetime.now(UTC), raw)
    [prepared] = await handlers(ctx).prepared([message])
    async with ingest.transaction() as writer:
        await handlers(ctx).dispatch(writer, [prepared])
        [decided] = await writer.fetch(DECIDED, f"ev:{message.key}")
    return CaptureDecision(decided["passed"], decided["reason"], decided["score"])


def handlers(ctx: Context) -> Handlers:
    if ctx.intake_handlers is None:
        ctx.intake_handlers = ingest.handlers(ctx.settings, ctx.keys, faces=ctx.faces)
    return ctx.intake_handlers


def _message(device: KnownDevice, item: Translated, picture: bool) -> Message:
    raw = {**item.data, "picture_received": True} if picture else item.data
    return verified_message(device, Channel.EVENT, item.id, item.type, datetime.fromisoformat(item.ts), raw)
