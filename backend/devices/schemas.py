from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from backend.devices.tables import DeviceKind
from backend.ids import Id

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


StreamUrl = Annotated[str, msgspec.Meta(max_length=500)]


class DeviceOut(msgspec.Struct):
    id: int
    code: str
    kind: DeviceKind
    name: str
    online: bool
    last_seen: dt.datetime | None
    battery: int | None
    heartbeat_seconds: int
    stream_url: str = ""
    model: str = ""


class DeviceIn(msgspec.Struct, forbid_unknown_fields=True):
    community_id: Id
    code: Code
    kind: DeviceKind
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    model: Annotated[str, msgspec.Meta(max_length=30)] = ""  # 设备型号, reported to the police platform
    gate_id: Id | None = None
    building_id: Id | None = None
    unit_id: Id | None = None
    house_id: Id | None = None  # a device placed in a flat (its building and unit follow)
    zone: Annotated[str, msgspec.Meta(max_length=100)] = ""
    latitude: float | None = None
    longitude: float | None = None
    heartbeat_seconds: Annotated[int, msgspec.Meta(ge=5, le=86_400)] = 60
    stream_url: StreamUrl = ""  # cameras only


class StreamIn(msgspec.Struct, forbid_unknown_fields=True):
    stream_url: StreamUrl  # empty: none


class DeviceProvisioned(msgspec.Struct):
    """Shown once: the secret goes into the device's configuration and is never shown again."""

    device: DeviceOut
    topic_prefix: str
    secret: str
    mqtt_username: str  # the device's own broker account (the ACL allows it only its own topics)
    mqtt_password: str  # derived from the secret, so it can be re-derived but is never stored


class NotificationOut(msgspec.Struct):
    id: int
    kind: str
    subject: str
    message: str
    created_at: dt.datetime
