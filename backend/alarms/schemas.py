from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from backend.alarms.kinds import POLICE_ONLY, AlarmType, Category, Severity, State
from backend.ids import Id
from device_bridge.protocol import MeterKind

Note = Annotated[str, msgspec.Meta(max_length=500)]
Point = Annotated[list[float], msgspec.Meta(min_length=2, max_length=2)]


class AlarmOut(msgspec.Struct):
    """An alarm as the board and the lists show it (no personal data: see AlarmDetail)."""

    id: int
    community: int
    device: int
    type: AlarmType
    category: Category
    severity: Severity
    state: State
    detail: str
    location: str
    house: int | None
    zone: int | None
    cameras: list[int]
    meter: str
    reading: float | None
    threshold: str
    latitude: float | None
    longitude: float | None
    signals: int
    first_at: dt.datetime
    last_at: dt.datetime
    raised_at: dt.datetime
    cleared_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    dispatched_at: dt.datetime | None
    closed_at: dt.datetime | None
    escalated_at: dt.datetime | None
    note: str
    # The registered camera watching the alarm's place (backend/video/watching.py), found when the
    # alarm is shown: the pop-up's "view camera" opens it on the wall.
    camera_id: int | None = None


class StepOut(msgspec.Struct):
    state: str
    at: dt.datetime
    account: int | None
    account_name: str
    note: str


class PairedPerson(msgspec.Struct):
    """Who pressed (a button's pairing): personal data, shown to staff and audited."""

    name: str
    phone: str  # masked unless the viewer may see residents' phones in full


class AlarmDetail(msgspec.Struct):
    alarm: AlarmOut
    steps: list[StepOut]
    person: PairedPerson | None = None


class StepIn(msgspec.Struct, forbid_unknown_fields=True):
    state: State
    note: Note = ""


class ZoneIn(msgspec.Struct, forbid_unknown_fields=True):
    community_id: Id
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    polygon: Annotated[list[Point], msgspec.Meta(min_length=3, max_length=200)]
    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{0,64}$")] = ""
    detectors: Annotated[list[Id], msgspec.Meta(max_length=100)] = []
    cameras: Annotated[list[Id], msgspec.Meta(max_length=100)] = []


class ZoneOut(msgspec.Struct):
    id: int
    community: int
    name: str
    code: str
    polygon: list[list[float]]
    detectors: list[int]
    cameras: list[int]


class MapCamera(msgspec.Struct):
    id: int
    name: str
    online: bool
    stream_url: str  # empty: none configured


class MapZone(msgspec.Struct):
    id: int
    name: str
    polygon: list[list[float]]
    detectors: list[int]  # device ids: any alarm of theirs is at this zone
    cameras: list[MapCamera]


class MapPlace(msgspec.Struct):
    """A building or gate on the map; a building lists its flats (a button alarm names its flat)."""

    id: int
    name: str
    x: float
    y: float
    houses: list[int] = []


class MapOut(msgspec.Struct):
    """What the board draws: places and zones in the community map's own coordinates."""

    buildings: list[MapPlace]
    gates: list[MapPlace]
    zones: list[MapZone]


class ThresholdIn(msgspec.Struct, forbid_unknown_fields=True):
    meter: MeterKind
    device_id: Id | None = None  # an override for one device; none: the community's default for the kind
    low: float | None = None
    high: float | None = None


class ThresholdOut(msgspec.Struct):
    meter: MeterKind
    device_id: int | None
    low: float | None
    high: float | None
    source: str  # "default" (built in), "community" or "device"


class PairingIn(msgspec.Struct, forbid_unknown_fields=True):
    serial: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]  # the button's QR
    house_id: Id
    person_id: Id


class ButtonOut(msgspec.Struct):
    device_id: int
    serial: str
    name: str
    online: bool
    battery: int | None
    last_seen: dt.datetime | None
    house: int | None
    location: str
    paired_at: dt.datetime | None


class UsageOut(msgspec.Struct):
    """One hour of one meter: how many readings, their sum, min, max and the last."""

    meter: MeterKind
    hour: dt.datetime
    readings: int
    total: float
    low: float
    high: float
    last: float


def when(value: Any) -> dt.datetime | None:
    """A timestamp as either engine returns it to raw SQL (SQLite: UTC text, store.timestamp)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def json_list(value: Any) -> list[int]:
    """A JSON list column (ids, a polygon) as either engine returns it."""
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else list(value or [])


TIMES = (
    "first_at",
    "last_at",
    "raised_at",
    "cleared_at",
    "acknowledged_at",
    "dispatched_at",
    "closed_at",
    "escalated_at",
)


def alarm_out(row: dict[str, Any]) -> AlarmOut:
    fields = {name: row[name] for name in AlarmOut.__struct_fields__ if name in row}
    fields |= {name: when(row[name]) for name in TIMES} | {"cameras": json_list(row["cameras"])}
    return msgspec.convert(fields, AlarmOut, strict=False)


def stream_payload(alarm: AlarmOut) -> dict[str, Any] | None:
    """The alarm as the community's live stream shows it; None for a police-only alarm (push alone)."""
    return None if alarm.type in POLICE_ONLY else msgspec.to_builtins(alarm)


class ArmingIn(msgspec.Struct, forbid_unknown_fields=True):
    """A rule of the arming schedule (backend/alarms/arming.py)."""

    level: str  # "off" (disarmed) or a severity: low, medium, high, critical
    zone_id: Id | None = None  # a perimeter zone of the community; none: the whole community
    types: Annotated[list[str], msgspec.Meta(max_length=10)] = []  # armable alarm types; none: all
    days: str = "1234567"  # ISO weekdays (1 = Monday), Wuhan time
    start: str = "00:00"  # HH:MM; start == until: all day; start > until: overnight
    until: str = "00:00"
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


class ArmingOut(msgspec.Struct):
    id: int
    community_id: int
    zone_id: int | None
    types: list[str]
    days: str
    start: str
    until: str
    level: str
    note: str
