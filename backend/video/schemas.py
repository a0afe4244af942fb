from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import msgspec

from backend.ids import Id
from backend.video.tables import Area, RoundStatus, Verdict, VideoState

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Place = Annotated[str, msgspec.Meta(max_length=200)]
Channel = Annotated[int, msgspec.Meta(ge=1, le=1024)]


class RecorderIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    address: Place = ""  # host or management URL, without credentials


class RetentionIn(msgspec.Struct, forbid_unknown_fields=True):
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=3650)]  # what the recorder keeps now


class RecorderOut(msgspec.Struct):
    id: int
    community_id: int
    name: str
    address: str
    retention_days: int | None
    reported_at: dt.datetime | None
    channels: int  # cameras recorded on it


class CameraPlace(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a camera covers and where it is recorded (its device says the rest)."""

    area: Area
    gate_id: Id | None = None
    building_id: Id | None = None
    unit_id: Id | None = None
    place: Place = ""
    recorder_id: Id | None = None
    channel: Channel | None = None  # with a recorder only


class CameraIn(CameraPlace, forbid_unknown_fields=True, kw_only=True):
    device_id: Id  # a device of kind camera in the community, not yet registered here


class CameraOut(msgspec.Struct):
    id: int
    device_id: int
    code: str
    name: str
    online: bool
    last_seen: dt.datetime | None
    stream_url: str
    area: Area
    gate_id: int | None
    building_id: int | None
    unit_id: int | None
    place: str
    recorder_id: int | None
    channel: int | None
    ptz: bool = False  # an ONVIF address is set: the PTZ routes may turn it
    video: VideoState = VideoState.UNKNOWN  # what the stream probe last found (lost: 视频丢失)
    video_checked_at: dt.datetime | None = None


class Gap(msgspec.Struct):
    """A required area without a camera: the community's, or one gate's, unit's or zone's."""

    area: Area
    place: str  # the gate, unit or perimeter zone, or "" for the community as a whole
    gate_id: int | None = None
    unit_id: int | None = None


class CameraFlag(msgspec.Struct):
    """A camera the coverage counts but someone must look at: offline, or not recorded 30 days."""

    camera_id: int
    name: str
    reason: str  # offline | video_lost | no_recorder | retention_unreported | retention_short
    retention_days: int | None = None


class AreaCount(msgspec.Struct):
    area: Area
    required: bool
    cameras: int
    online: int


class CoverageOut(msgspec.Struct):
    community_id: int
    complete: bool  # no gap and no flag
    areas: list[AreaCount]
    gaps: list[Gap]
    flags: list[CameraFlag]
    retention_days_min: int


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    rounds_per_day: Annotated[int, msgspec.Meta(ge=1, le=24)]


class CheckIn(msgspec.Struct, forbid_unknown_fields=True):
    camera_id: Id
    verdict: Verdict
    note: Annotated[str, msgspec.Meta(max_length=300)] = ""


class CheckOut(msgspec.Struct):
    id: int
    camera_id: int
    camera: str
    verdict: Verdict
    note: str
    at: dt.datetime
    has_snapshot: bool


class RoundOut(msgspec.Struct):
    id: int
    community_id: int
    operator: str
    operator_id: int  # the account that walks the round (only it records checks and ends it)
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: RoundStatus
    checks: list[CheckOut]
    unchecked: list[int]  # the community's cameras not checked on this round yet


class Window(msgspec.Struct):
    start: dt.datetime
    end: dt.datetime


class InspectionsOut(msgspec.Struct):
    rounds_per_day: int | None  # None: no schedule
    missed: list[Window]  # scheduled windows of the last days that passed without a round
    rounds: list[RoundOut]


# --- PTZ over ONVIF (backend/video/ptz.py) -----------------------------------------------------

# A host name, IPv4 or IPv6 address: no scheme, path or credentials.
Host = Annotated[str, msgspec.Meta(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:\[\]-]+$")]
Speed = Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]


class OnvifIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where the camera answers ONVIF; ``host`` null clears it (no PTZ)."""

    host: Host | None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 80
    username: Annotated[str, msgspec.Meta(max_length=64)] = ""
    # Kept sealed, never returned; null keeps the one set before (changing the port, say).
    password: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class OnvifOut(msgspec.Struct):
    camera_id: int
    ptz: bool  # an ONVIF address is set
    host: str
    port: int
    username: str
    password_set: bool  # whether a password is kept (never the password)


class PtzAction(StrEnum):
    MOVE = "move"  # ContinuousMove at these velocities until stop
    STOP = "stop"
    GOTO_PRESET = "goto_preset"


class PtzIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    action: PtzAction
    pan: Speed = 0.0  # -1 left … 1 right
    tilt: Speed = 0.0  # -1 down … 1 up
    zoom: Speed = 0.0  # -1 out … 1 in
    preset: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # goto_preset


class PtzDone(msgspec.Struct):
    camera_id: int
    action: PtzAction


class PresetOut(msgspec.Struct):
    token: str
    name: str


Dwell = Annotated[int, msgspec.Meta(ge=3, le=3600)]


class GroupIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A camera group of the wall: its cameras in patrol order, each page shown ``dwell_seconds``."""

    name: Name
    dwell_seconds: Dwell = 10
    camera_ids: Annotated[list[Id], msgspec.Meta(max_length=64)] = []


class GroupOut(msgspec.Struct):
    id: int
    community_id: int
    name: str
    dwell_seconds: int
    camera_ids: list[int]


class LiveOut(msgspec.Struct):
    """Where the browser plays the camera: an HLS playlist, fetched with the caller's bearer token."""

    camera_id: int
    playlist: str
    engine: str = "ffmpeg-hls"
    keep_alive_seconds: float = 30.0  # fetch something of it at least this often, or it stops
