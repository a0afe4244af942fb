"""Devices at gates, buildings, units and zones, and what they report."""

from enum import StrEnum

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.registry.tables import Building, Community, Gate, House, Unit


class DeviceKind(StrEnum):
    FACE_GATE = "face_gate"  # 人脸识别闸机
    INTERCOM = "intercom"  # 单元门可视对讲
    DOOR_CONTROLLER = "door_controller"
    BARRIER = "barrier"  # 车辆道闸
    CAMERA = "camera"
    PERIMETER_ZONE = "perimeter_zone"
    SMOKE_SENSOR = "smoke_sensor"
    LEAK_SENSOR = "leak_sensor"  # 水浸
    DOOR_MAGNET = "door_magnet"
    HYDRANT_PRESSURE = "hydrant_pressure"
    METER = "meter"
    EMERGENCY_BUTTON = "emergency_button"
    WIFI_PROBE = "wifi_probe"
    SCREEN = "screen"
    PATROL_TAG = "patrol_tag"


# Kinds that open doors on command and so must acknowledge it.
DOOR_KINDS = frozenset(
    {DeviceKind.FACE_GATE, DeviceKind.INTERCOM, DeviceKind.DOOR_CONTROLLER, DeviceKind.BARRIER}
)


class Device(Table):
    community = ForeignKey(Community, null=False, index=True)
    code = Varchar(length=64, unique=True)  # the device segment of its MQTT topics
    kind = Varchar(length=20, choices=DeviceKind)
    name = Varchar(length=100)
    model = Varchar(length=30, default="")  # 设备型号 (SBXH): the maker's model, as the standard reports it
    gate = ForeignKey(Gate, null=True, default=None)
    building = ForeignKey(Building, null=True, default=None)
    unit = ForeignKey(Unit, null=True, default=None)
    house = ForeignKey(House, null=True, default=None)  # a paired emergency button's flat
    zone = Varchar(length=100, default="")
    latitude = DoublePrecision(null=True, default=None)
    longitude = DoublePrecision(null=True, default=None)
    secret_sealed = Text()  # its signing secret, sealed like ID numbers
    heartbeat_seconds = Integer(default=60)
    online = Boolean(default=False)
    last_seen = Timestamptz(null=True, default=None)
    state_at = Timestamptz(null=True, default=None)  # the signed ts of the last state applied (bridge.py)
    battery = Integer(null=True, default=None)
    # A camera's live view for the board's pop-up: an http(s) page, HLS playlist or snapshot, or an
    # RTSP URL for the monitoring room's player; never with credentials (every board viewer sees it).
    stream_url = Varchar(length=500, default="")
    # A face gate that holds its community's gallery and matches on its own (backend/faces/ongate.py).
    matches_faces = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())


class DeviceEvent(Table):
    """Every accepted device event, once: ``key`` (device id + event id) makes redelivery harmless."""

    device = ForeignKey(Device, null=False, index=True)
    community = Integer(index=True)
    key = Varchar(length=100, unique=True)
    type = Varchar(length=20)
    at = Timestamptz()  # the device's clock
    received_at = Timestamptz(default=TimestamptzNow())
    data = JSON(default="{}")


class Liveness(StrEnum):
    """The rows a bridge worker writes beside its message counts, as ``BridgeCounter.reason``."""

    STORED = "stored"  # events committed
    CONNECTED = "connected"  # 1 while connected to the broker
    RECONNECTS = "reconnects"
    BATCH_LAG_MS = "batch_lag_ms"  # from the first message of the last batch to its commit


class BridgeCounter(Table):
    """Per bridge worker: messages accepted and refused, by reason (forged, malformed, unknown device),
    and its :class:`Liveness` rows; ``updated_at`` is the worker's heartbeat."""

    worker = Varchar(length=64)
    reason = Varchar(length=30)
    count = BigInt(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())
    slot = Varchar(length=100, unique=True)  # worker + reason


class Notification(Table):
    """A message for a role in a community, e.g. the maintenance centre about a device gone silent."""

    community = ForeignKey(Community, null=False, index=True)
    role = Varchar(length=20)
    kind = Varchar(length=30)
    subject = Varchar(length=100)
    message = Varchar(length=500)
    created_at = Timestamptz(default=TimestamptzNow())
    read_at = Timestamptz(null=True, default=None)
