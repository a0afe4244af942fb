"""Alarms and their history, perimeter zones, emergency-button pairings, sensor thresholds, meter usage.

Device ids are plain integers: the device registry is another domain's, reached through its service.
"""

from piccolo.columns import JSON, Boolean, DoublePrecision, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.alarms.kinds import AlarmType, Category, Severity, State
from backend.registry.tables import Community


class Alarm(Table):
    """One incident, whatever its source; repeats of it fold in (``signals``, ``last_at``).

    ``open_slot`` is ``"{device}:{type}"`` while repeats may still fold into this alarm, else NULL:
    its uniqueness is what keeps concurrent bridge workers from opening two alarms for one incident.
    ``backend/uplink/mappings.py`` maps them onto the 数据标准's alarm tables.
    """

    community = ForeignKey(Community, null=False, index=True)
    device = Integer(index=True)
    type = Varchar(length=30, choices=AlarmType)
    category = Varchar(length=20, choices=Category)
    severity = Varchar(length=10, choices=Severity)
    state = Varchar(length=20, choices=State, default=State.NEW, index=True)
    detail = Varchar(length=500, default="")
    location = Varchar(length=200, default="")  # 报警求助地点 / 监控地址: the flat, or the device's place
    house = Integer(null=True, default=None)  # a paired button's flat
    pairing = Integer(null=True, default=None)  # the button's pairing when it was pressed
    zone = Integer(null=True, default=None)  # a perimeter zone
    cameras = JSON(default="[]")  # device ids of the cameras that watch the place
    meter = Varchar(length=30, default="")
    reading = DoublePrecision(null=True, default=None)  # the value that crossed a threshold
    threshold = Varchar(length=100, default="")  # 阈值名称, e.g. "> 0.6 MPa"
    latitude = DoublePrecision(null=True, default=None)
    longitude = DoublePrecision(null=True, default=None)
    signals = Integer(default=1)  # how many signals folded into it
    first_at = Timestamptz()  # the first signal's device time
    last_at = Timestamptz()  # the latest folded signal's device time
    raised_at = Timestamptz(default=TimestamptzNow())  # server time: escalation counts from here
    cleared_at = Timestamptz(null=True, default=None)  # the source says the condition is over
    acknowledged_at = Timestamptz(null=True, default=None)
    acknowledged_by = Integer(null=True, default=None)
    dispatched_at = Timestamptz(null=True, default=None)
    dispatched_by = Integer(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)  # resolved or false alarm
    closed_by = Integer(null=True, default=None)
    note = Varchar(length=500, default="")  # the latest handling note: 处理结果
    escalated_at = Timestamptz(null=True, default=None)
    open_slot = Varchar(length=100, null=True, default=None, unique=True)


class AlarmStep(Table):
    """An alarm's history: raised, each transition (who, when, note) and its escalation."""

    alarm = ForeignKey(Alarm, null=False, index=True)
    state = Varchar(length=20)  # a State, or "escalated"
    at = Timestamptz(default=TimestamptzNow())
    account = Integer(null=True, default=None)
    note = Varchar(length=500, default="")


class AlarmSignal(Table):
    """Each device message that raised or folded into an alarm, once: redelivery is a no-op."""

    key = Varchar(length=100, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())


class AlarmCondition(Table):
    """Whether a condition (smoke, a crossed threshold, offline…) is on for a device: ``"{device}:{type}"``."""

    slot = Varchar(length=100, unique=True)
    active = Boolean(default=False)
    at = Timestamptz(default=TimestamptzNow())


class PerimeterZone(Table):
    """A stretch of the perimeter on the community's map, its detectors and the cameras that watch it."""

    community = ForeignKey(Community, null=False, index=True)
    name = Varchar(length=100)
    code = Varchar(length=64, default="")  # the zone's name in the video analytics (a Frigate zone)
    polygon = JSON(default="[]")  # [[x, y], …] in the community map's coordinates
    detectors = JSON(default="[]")  # device ids
    cameras = JSON(default="[]")  # device ids of camera kind
    created_at = Timestamptz(default=TimestamptzNow())


class ArmingRule(Table):
    """分区、分时、分级设防: in a zone (or the whole community) and a weekly window, whether perimeter
    and video-analytics events raise alarms and at what level (backend/alarms/arming.py)."""

    community = ForeignKey(Community, null=False, index=True)
    zone = ForeignKey(PerimeterZone, null=True, default=None, on_delete=OnDelete.cascade)
    types = JSON(default="[]")  # armable alarm types; empty: all of them
    days = Varchar(length=7, default="1234567")  # ISO weekdays, Wuhan time
    start = Varchar(length=5, default="00:00")  # HH:MM; start == until: all day; start > until: overnight
    until = Varchar(length=5, default="00:00")
    level = Varchar(length=10)  # "off" or a severity
    note = Varchar(length=200, default="")
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class ButtonPairing(Table):
    """An emergency button paired with a person and their flat; the flat's residents are its contacts."""

    device = Integer(unique=True)
    community = ForeignKey(Community, null=False, index=True)
    house = Integer(index=True)
    person = Integer()  # registry person: a current resident of the flat
    location = Varchar(length=200)  # the flat's standard address, as presses report it
    paired_by = Integer()
    paired_at = Timestamptz(default=TimestamptzNow())


class SensorThreshold(Table):
    """Limits for a meter kind in a community, or one device's override (``device`` set)."""

    community = ForeignKey(Community, null=False, index=True)
    meter = Varchar(length=30)
    device = Integer(null=True, default=None)
    low = DoublePrecision(null=True, default=None)
    high = DoublePrecision(null=True, default=None)
    slot = Varchar(length=100, unique=True)  # community:meter:device
    updated_by = Integer(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class MeterUsage(Table):
    """A meter's readings, one row per device, meter and hour: how many, their sum, min, max and the last."""

    device = Integer(index=True)
    community = Integer(index=True)
    meter = Varchar(length=30)
    hour = Timestamptz()
    readings = Integer(default=0)
    total = DoublePrecision(default=0.0)
    low = DoublePrecision()
    high = DoublePrecision()
    last = DoublePrecision()
    last_at = Timestamptz()  # readings not newer than this for the hour are repeats
    slot = Varchar(length=100, unique=True)  # device:meter:hour
