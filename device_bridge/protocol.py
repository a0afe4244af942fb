"""The Anju MQTT contract (DESIGN.md): topics, the signed envelope, event and command shapes.

Every message a device sends, and every command the platform sends it, is a JSON envelope
signed with the device's own secret (HMAC-SHA256 over the topic, a newline and the envelope
without ``sig`` as compact JSON with sorted keys), so no device can publish as another on any
broker, embedded or external.

Freshness: every envelope's signed ``ts`` bounds how long a captured copy is worth replaying.
Devices refuse commands outside a short window and never execute an id twice; the bridge refuses
events outside a clock-skew window. States are ordered instead, since a retained state may be
hours old: a device signs its online state and its last will with the same ``ts`` (the start of
its session), so the will of the current session still beats the online state it follows, and
no older state, replayed, beats either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec

DEFAULT_PREFIX = "anju"
SHARE_GROUP = "bridge"
SEGMENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # a community or device code in a topic
MAX_PAYLOAD = 256 * 1024  # a face gate's capture (a face crop or a small frame, base64) fits


class Channel(StrEnum):
    EVENT = "event"  # device → platform, QoS 1
    STATE = "state"  # device → platform, retained; the last will says offline
    CMD = "cmd"  # platform → device
    ACK = "ack"  # device → platform, answers a command by its id


class EventType(StrEnum):
    ACCESS = "access"
    HEARTBEAT = "heartbeat"
    ALARM = "alarm"
    READING = "reading"
    PLATE = "plate"  # a licence plate read at a vehicle barrier
    FACE = "face"  # a face gate's capture (or, matching on the gate, the gate's own decision)
    SIGHTING = "sighting"  # a Wi-Fi probe saw a phone's MAC, or an RFID reader an e-bike's tag
    CALL = "call"  # a unit-door panel's visitor call: ring a flat (with the panel's WebRTC offer) or hang up


class AlarmKind(StrEnum):
    """The ``kind`` of an ``alarm`` event that the platform knows; devices may send others (stored, not raised)."""

    EMERGENCY = "emergency"  # an SOS button press (紧急报警)
    HELP = "help"  # a help-call button press (求助)
    INTRUSION = "intrusion"  # a perimeter detector, or an object in a camera's zone (周界)
    CROWDING = "crowding"  # video analytics: 人员聚集
    LOITERING = "loitering"  # 徘徊
    LINE_CROSSING = "line_crossing"  # 越界
    THROWN_OBJECT = "thrown_object"  # 高空抛物
    VIDEO_LOSS = "video_loss"  # 视频丢失
    OCCLUSION = "occlusion"  # 视频遮挡
    SMOKE = "smoke"
    DOOR_OPEN = "door_open"  # a (fire) door's magnetic contact opened
    WATER_LEAK = "water_leak"
    TAMPER = "tamper"  # 防拆


class MeterKind(StrEnum):
    """What a ``reading`` event measures."""

    WATER = "water"  # m³, cumulative
    ELECTRICITY = "electricity"  # kWh, cumulative
    POWER = "power"  # W, instantaneous electric load
    GAS = "gas"  # m³, cumulative
    GAS_CONCENTRATION = "gas_concentration"  # %LEL, a leak detector
    HYDRANT_PRESSURE = "hydrant_pressure"  # MPa, a fire hydrant's water pressure


class AccessMethod(StrEnum):
    """Every way in; all but FACE work for residents who refuse face capture."""

    CARD = "card"
    ID_CARD = "id_card"
    FACE = "face"
    PIN = "pin"
    PHONE = "phone"
    QR_PASS = "qr_pass"
    VISITOR_CALL = "visitor_call"
    TAG = "tag"  # an e-bike's RFID tag at a gate reader


class SightingKind(StrEnum):
    WIFI = "wifi"  # a phone's Wi-Fi MAC address (无线上网安全管理系统)
    RFID = "rfid"  # an e-bike's RFID tag, read by a gate reader (same intake)


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class MessageError(ValueError):
    """Base of messages the bridge refuses; ``reason`` is the counter it increments."""

    reason = "malformed"


class MalformedMessage(MessageError):
    reason = "malformed"


class ForgedMessage(MessageError):
    reason = "forged"


class UnknownDevice(MessageError):
    reason = "unknown_device"


class StaleMessage(MessageError):
    """Signed too long ago or too far ahead: a replay, or a device whose clock is wrong."""

    reason = "stale"


class TopicParts(msgspec.Struct, frozen=True):
    community: str
    device: str
    channel: Channel


class Envelope(msgspec.Struct, frozen=True):
    id: str
    ts: str  # ISO 8601 with offset, the device's clock; kept as sent because it is signed
    type: str
    data: dict[str, Any] = {}
    sig: str = ""

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.ts)


# Shapes of ``data`` per event type, checked at the edge so the domain gets clean values.
class AccessData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    method: AccessMethod
    direction: Direction = Direction.IN
    granted: bool = True
    credential: str = ""  # card number, masked ID number, pass id…
    door: str = ""  # door code on multi-door controllers


class AlarmData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    kind: str  # smoke, water_leak, emergency, tamper, intrusion, door_open…
    active: bool = True
    detail: str = ""


class ReadingData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    meter: MeterKind
    value: float
    unit: str = ""


class PlateData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    plate: str  # as the camera read it (鄂A12345); the platform normalises and judges it
    direction: Direction = Direction.IN
    color: str = ""  # the plate's colour as the camera names it (blue, green, yellow…)
    picture: str = ""  # a reference to the camera's snapshot (a URL or an event id), never the image
    score: float | None = None  # the recogniser's confidence, 0-1


class FaceData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """A face gate's capture. ``image`` (base64 JPEG or PNG, a face crop or the frame) is matched by
    the platform; a gate matching on its own (device-side matching) sends ``match`` and ``score``
    instead, and whether it opened in ``granted``."""

    image: str = ""
    direction: Direction = Direction.IN
    door: str = ""  # door code on multi-door gates
    match: int | None = None  # device-side matching: the enrolment the gate matched, if any
    score: float | None = None
    granted: bool | None = None  # device-side matching: whether the gate opened


MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-]?)[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}$")


def normalised_mac(text: str) -> str:
    """``aa-bb-cc-dd-ee-ff``, ``aabbccddeeff`` or ``AA:BB:…`` as ``AA:BB:CC:DD:EE:FF``; ValueError if none."""
    if not MAC.match(text):
        raise ValueError(f"not a MAC address: {text[:40]!r}")
    digits = re.sub(r"[:-]", "", text).upper()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


class SightingData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """One MAC (or tag) a probe saw; ``mac`` arrives normalised, ``seen_at`` defaults to the envelope's ts."""

    mac: str
    kind: SightingKind = SightingKind.WIFI
    rssi: int | None = None  # dBm
    seen_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "mac", normalised_mac(self.mac))  # ValueError: malformed


class HeartbeatData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    battery: int | None = None  # percent
    battery_low: bool | None = None  # what many sensors report instead of a percentage


class StateData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    online: bool
    battery: int | None = None


class CommandAction(StrEnum):
    OPEN = "open"  # door devices: open (``door`` on multi-door controllers)
    DISPLAY = "display"  # screens and broadcast devices: show a notice until ``until``
    CLEAR = "clear"  # screens and broadcast devices: take a notice off
    FACE_SYNC = "face_sync"  # face gates matching on their own: pull the gallery (``version``) again
    ANSWER = "answer"  # intercom panels: a resident answered ``call``; ``sdp`` is the phone's WebRTC answer
    HANGUP = "hangup"  # intercom panels: ``call`` is over (``reason``: ended, declined, missed)


class CommandData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    action: str  # a CommandAction; devices refuse the ones they do not support in their ack
    door: str = ""
    seconds: int = 5


class DisplayData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """What a ``display`` command shows (a ``clear`` carries only ``notice``)."""

    notice: int  # the notice's id: a later clear names it
    title: str = ""
    body: str = ""  # an excerpt; the full text is in the PWA
    urgent: bool = False
    until: str = ""  # ISO 8601 with offset: the screen takes it off by itself then


class CallAction(StrEnum):
    RING = "ring"  # a visitor calls flat ``house`` (its room number in the panel's unit)
    HANGUP = "hangup"  # the visitor hung up (or the panel gave up)


class CallData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """A panel's ``call`` event. ``call`` is the panel's own id of the call (it names the call in the
    commands that follow); a ring carries the panel's WebRTC offer, ICE candidates included
    (no trickle: signalling goes through the bridge, one message each way)."""

    call: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    action: CallAction
    house: Annotated[str, msgspec.Meta(max_length=20)] = ""
    sdp: Annotated[str, msgspec.Meta(max_length=64 * 1024)] = ""


class AckData(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    command: str  # the command's id
    ok: bool
    reason: str = ""


DATA_SHAPES: dict[str, type[msgspec.Struct]] = {
    EventType.ACCESS: AccessData,
    EventType.ALARM: AlarmData,
    EventType.READING: ReadingData,
    EventType.HEARTBEAT: HeartbeatData,
    EventType.PLATE: PlateData,
    EventType.FACE: FaceData,
    EventType.SIGHTING: SightingData,
    EventType.CALL: CallData,
}


def topic(prefix: str, community: str, device: str, channel: Channel) -> str:
    return f"{prefix}/{community}/{device}/{channel}"


def subscription(prefix: str, channel: Channel, shared: bool) -> str:
    """A wildcard over every device; shared (MQTT 5) so bridge workers split the load."""
    pattern = f"{prefix}/+/+/{channel}"
    return f"$share/{SHARE_GROUP}/{pattern}" if shared else pattern


def parse_topic(prefix: str, name: str) -> TopicParts:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != prefix or not all(SEGMENT.match(p) for p in parts[1:3]):
        raise MalformedMessage(f"not an Anju device topic: {name[:200]!r}")
    try:
        channel = Channel(parts[3])
    except ValueError:
        raise MalformedMessage(f"unknown channel {parts[3][:20]!r}") from None
    return TopicParts(community=parts[1], device=parts[2], channel=channel)


def _signed_bytes(topic_name: str, body: dict[str, Any]) -> bytes:
    return topic_name.encode() + b"\n" + msgspec.json.encode(body, order="sorted")


def signature(secret: bytes, topic_name: str, body: dict[str, Any]) -> str:
    return hmac.new(secret, _signed_bytes(topic_name, body), hashlib.sha256).hexdigest()


def encode(
    secret: bytes,
    topic_name: str,
    id: str,
    type: str,
    data: dict[str, Any] | None = None,
    ts: datetime | None = None,
) -> bytes:
    """A signed envelope, ready to publish on ``topic_name``."""
    body = {"id": id, "ts": (ts or datetime.now(UTC)).isoformat(), "type": type, "data": data or {}}
    return msgspec.json.encode({**body, "sig": signature(secret, topic_name, body)})


def decode(payload: bytes) -> Envelope:
    """Parse without trusting: the signature is checked by :func:`verify` with the device's secret."""
    if len(payload) > MAX_PAYLOAD:
        raise MalformedMessage(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    try:
        envelope = msgspec.json.decode(payload, type=Envelope)
    except msgspec.DecodeError as exc:
        raise MalformedMessage(f"not an Anju envelope: {exc}") from None
    if not 0 < len(envelope.id) <= 64:
        raise MalformedMessage("envelope id must be 1-64 characters")
    try:
        aware = envelope.at.tzinfo is not None
    except ValueError:
        aware = False
    if not aware:
        raise MalformedMessage(f"ts must be ISO 8601 with an offset, got {envelope.ts[:40]!r}")
    return envelope


def verify(secret: bytes, topic_name: str, envelope: Envelope) -> Envelope:
    body = {"id": envelope.id, "ts": envelope.ts, "type": envelope.type, "data": envelope.data}
    if not hmac.compare_digest(signature(secret, topic_name, body), envelope.sig):
        raise ForgedMessage(f"bad signature on {topic_name}")
    return envelope


def check_fresh(envelope: Envelope, max_age: float, max_ahead: float) -> Envelope:
    """Refuse an envelope whose ``ts`` is over ``max_age`` seconds in the past or ``max_ahead`` ahead."""
    offset = (envelope.at - datetime.now(UTC)).total_seconds()
    if offset < -max_age or offset > max_ahead:
        raise StaleMessage(
            f"{envelope.type} {envelope.id[:64]!r} is signed {offset:+.0f} s from now "
            f"(accepted: -{max_age:g} to +{max_ahead:g} s)"
        )
    return envelope


def data_as(envelope: Envelope, shape: type[msgspec.Struct]) -> Any:
    return shaped(envelope.type, envelope.data, shape)


def shaped(type: str, data: dict[str, Any], shape: type[msgspec.Struct]) -> Any:
    try:
        return msgspec.convert(data, shape)
    except msgspec.ValidationError as exc:
        raise MalformedMessage(f"{type} data: {exc}") from None
