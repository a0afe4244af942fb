from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from backend.ids import Id
from backend.patrol.tables import FlagKind, RunStatus

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Clock = Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}$")]
NfcTag = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[0-9A-Fa-f:]*$")]  # a chip's serial number


class CheckpointIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    minute: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)] = 0
    building_id: Id | None = None
    unit_id: Id | None = None
    gate_id: Id | None = None
    place: Annotated[str, msgspec.Meta(max_length=200)] = ""
    nfc_tag: NfcTag = ""


class RouteIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    checkpoints: Annotated[list[CheckpointIn], msgspec.Meta(min_length=1, max_length=100)]


class ShiftIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    starts: Clock
    ends: Clock
    every_minutes: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)] = 0
    tolerance_minutes: Annotated[int, msgspec.Meta(ge=0, le=240)] = 10


class RunIn(msgspec.Struct, forbid_unknown_fields=True):
    shift_id: Id


class ScanIn(msgspec.Struct, forbid_unknown_fields=True):
    """A checkpoint scanned by its QR tag's token, or read by its NFC tag id (Web NFC's serialNumber)."""

    token: Annotated[str, msgspec.Meta(max_length=64)] = ""
    nfc_tag: NfcTag = ""
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None


class CheckpointOut(msgspec.Struct):
    id: int
    name: str
    position: int
    minute: int
    place: str
    nfc_tag: str
    tag: str | None  # the live tag's token (for printing); None when withdrawn


class ShiftOut(msgspec.Struct):
    id: int
    name: str
    starts: str
    ends: str
    every_minutes: int
    tolerance_minutes: int


class RouteOut(msgspec.Struct):
    id: int
    name: str
    checkpoints: list[CheckpointOut]
    shifts: list[ShiftOut]


class TagOut(msgspec.Struct):
    checkpoint_id: int
    token: str
    url: str


class ScanOut(msgspec.Struct):
    checkpoint_id: int
    checkpoint: str
    position: int
    at: dt.datetime
    latitude: float | None
    longitude: float | None


class FlagOut(msgspec.Struct):
    checkpoint_id: int
    checkpoint: str
    kind: FlagKind
    detail: str


class RunOut(msgspec.Struct):
    id: int
    route: str
    shift: str
    guard: str
    round_start: dt.datetime
    round_end: dt.datetime
    status: RunStatus
    checkpoints: int
    scans: list[ScanOut]
    flags: list[FlagOut]


class PatrolSeen(msgspec.Struct):
    """A recent patrol at a place, as its scan view lists it."""

    at: dt.datetime
    checkpoint: str
    guard: str
