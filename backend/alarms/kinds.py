"""Alarm types: where each comes from, how serious it is, who is told, and the standard's field names.

Every source (button, detector, camera, sensor, threshold, the device registry) raises one of the
:class:`AlarmType` values below; :data:`RULES` gives each its category, severity, whether it is a
*condition* (raised once when it begins, folded while it lasts) or a *momentary* signal (each one
after the fold window is a new alarm), and the roles routed to it.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from device_bridge.protocol import AlarmKind, MeterKind
from roles import Role


class AlarmType(StrEnum):
    EMERGENCY = "emergency"  # SOS button 紧急报警
    HELP = "help"  # help-call button 求助
    INTRUSION = "intrusion"  # perimeter zone 周界入侵
    CROWDING = "crowding"
    LOITERING = "loitering"
    LINE_CROSSING = "line_crossing"
    THROWN_OBJECT = "thrown_object"  # 高空抛物
    VIDEO_LOSS = "video_loss"
    OCCLUSION = "occlusion"
    SMOKE = "smoke"
    FIRE_DOOR_OPEN = "fire_door_open"  # 消防通道门磁
    WATER_LEAK = "water_leak"
    HYDRANT_PRESSURE = "hydrant_pressure"  # 消防栓水压 out of range
    WATER_THRESHOLD = "water_threshold"
    ELECTRICITY_THRESHOLD = "electricity_threshold"
    GAS_THRESHOLD = "gas_threshold"
    DEVICE_OFFLINE = "device_offline"
    TAMPER = "tamper"
    LOW_BATTERY = "low_battery"
    WATCHED_VEHICLE = "watched_vehicle"  # a plate on the police watch list at a barrier (布控车辆)
    WATCHED_PERSON = "watched_person"  # a face on the police watch list at a face gate (布控人员)
    TAG_WITHOUT_OWNER = (
        "tag_without_owner"  # an e-bike's tag left by a gate without its owner (backend/ebikes)
    )


class Category(StrEnum):
    EMERGENCY = "emergency"
    PERIMETER = "perimeter"
    VIDEO = "video"
    FIRE = "fire"
    ENERGY = "energy"
    DEVICE = "device"
    VEHICLE = "vehicle"
    PERSON = "person"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class State(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"


OPEN_STATES = (State.NEW, State.ACKNOWLEDGED, State.DISPATCHED)
CLOSED_STATES = (State.RESOLVED, State.FALSE_ALARM)
# new → acknowledged → dispatched → resolved | false_alarm; an alarm may be closed without dispatch.
TRANSITIONS: dict[State, tuple[State, ...]] = {
    State.ACKNOWLEDGED: (State.NEW,),
    State.DISPATCHED: (State.ACKNOWLEDGED,),
    State.RESOLVED: (State.ACKNOWLEDGED, State.DISPATCHED),
    State.FALSE_ALARM: (State.ACKNOWLEDGED, State.DISPATCHED),
}
# When each state was reached and by whom: the alarm's own columns.
STAMPS: dict[State, tuple[str, str]] = {
    State.ACKNOWLEDGED: ("acknowledged_at", "acknowledged_by"),
    State.DISPATCHED: ("dispatched_at", "dispatched_by"),
    State.RESOLVED: ("closed_at", "closed_by"),
    State.FALSE_ALARM: ("closed_at", "closed_by"),
}

# Who is told, per category (push + live board). Buttons also reach the flat's residents
# (routing.py), offline/battery/tamper reach maintenance; an unacknowledged alarm escalates to
# the community's police and the district's admins (escalation.py).
KEY = (Role.POLICE, Role.WARDEN)
SECURITY = (Role.PROPERTY,)
MAINTENANCE = (Role.MAINTENANCE,)
ESCALATION = (Role.POLICE, Role.DISTRICT_ADMIN)


class Rule(msgspec.Struct, frozen=True):
    category: Category
    severity: Severity
    roles: tuple[Role, ...]
    condition: bool = False  # raised when it begins, folded while it lasts, cleared when it ends
    residents: bool = False  # the paired flat's residents are told too (buttons)
    police_only: bool = False  # seen by police only: it would reveal the watch list


RULES: dict[AlarmType, Rule] = {
    AlarmType.EMERGENCY: Rule(Category.EMERGENCY, Severity.CRITICAL, KEY, residents=True),
    AlarmType.HELP: Rule(Category.EMERGENCY, Severity.HIGH, KEY, residents=True),
    AlarmType.INTRUSION: Rule(Category.PERIMETER, Severity.HIGH, (*KEY, *SECURITY)),
    AlarmType.THROWN_OBJECT: Rule(Category.VIDEO, Severity.HIGH, (*KEY, *SECURITY)),
    AlarmType.CROWDING: Rule(Category.VIDEO, Severity.MEDIUM, SECURITY),
    AlarmType.LOITERING: Rule(Category.VIDEO, Severity.MEDIUM, SECURITY),
    AlarmType.LINE_CROSSING: Rule(Category.VIDEO, Severity.MEDIUM, SECURITY),
    AlarmType.VIDEO_LOSS: Rule(Category.VIDEO, Severity.MEDIUM, (*SECURITY, *MAINTENANCE), condition=True),
    AlarmType.OCCLUSION: Rule(Category.VIDEO, Severity.MEDIUM, (*SECURITY, *MAINTENANCE), condition=True),
    AlarmType.SMOKE: Rule(Category.FIRE, Severity.CRITICAL, (*KEY, *SECURITY), condition=True),
    AlarmType.FIRE_DOOR_OPEN: Rule(Category.FIRE, Severity.MEDIUM, SECURITY, condition=True),
    AlarmType.HYDRANT_PRESSURE: Rule(Category.FIRE, Severity.HIGH, SECURITY, condition=True),
    AlarmType.WATER_LEAK: Rule(Category.ENERGY, Severity.HIGH, SECURITY, condition=True),
    AlarmType.WATER_THRESHOLD: Rule(Category.ENERGY, Severity.MEDIUM, SECURITY, condition=True),
    AlarmType.ELECTRICITY_THRESHOLD: Rule(Category.ENERGY, Severity.MEDIUM, SECURITY, condition=True),
    AlarmType.GAS_THRESHOLD: Rule(Category.ENERGY, Severity.CRITICAL, (*KEY, *SECURITY), condition=True),
    AlarmType.DEVICE_OFFLINE: Rule(Category.DEVICE, Severity.LOW, MAINTENANCE, condition=True),
    AlarmType.TAMPER: Rule(Category.DEVICE, Severity.MEDIUM, (*MAINTENANCE, *SECURITY)),
    AlarmType.LOW_BATTERY: Rule(Category.DEVICE, Severity.LOW, MAINTENANCE, condition=True),
    AlarmType.WATCHED_VEHICLE: Rule(Category.VEHICLE, Severity.HIGH, (Role.POLICE,), police_only=True),
    AlarmType.WATCHED_PERSON: Rule(Category.PERSON, Severity.HIGH, (Role.POLICE,), police_only=True),
    # A possible e-bike theft: the guards at the gate, and the owner's household (its verified residents).
    AlarmType.TAG_WITHOUT_OWNER: Rule(Category.PERIMETER, Severity.HIGH, SECURITY, residents=True),
}
# Alarms only police see (list, detail, stream, escalation): raising them shows the watch list.
POLICE_ONLY = frozenset(alarm_type for alarm_type, rule in RULES.items() if rule.police_only)

# An ``alarm`` event's kind → the alarm it raises. ``door_open`` is an alarm only on a fire-door
# magnet (a flat's door contact opening is no incident): see ingest.py.
FROM_EVENT: dict[str, AlarmType] = {
    AlarmKind.EMERGENCY: AlarmType.EMERGENCY,
    AlarmKind.HELP: AlarmType.HELP,
    AlarmKind.INTRUSION: AlarmType.INTRUSION,
    AlarmKind.CROWDING: AlarmType.CROWDING,
    AlarmKind.LOITERING: AlarmType.LOITERING,
    AlarmKind.LINE_CROSSING: AlarmType.LINE_CROSSING,
    AlarmKind.THROWN_OBJECT: AlarmType.THROWN_OBJECT,
    AlarmKind.VIDEO_LOSS: AlarmType.VIDEO_LOSS,
    AlarmKind.OCCLUSION: AlarmType.OCCLUSION,
    AlarmKind.SMOKE: AlarmType.SMOKE,
    AlarmKind.DOOR_OPEN: AlarmType.FIRE_DOOR_OPEN,
    AlarmKind.WATER_LEAK: AlarmType.WATER_LEAK,
    AlarmKind.TAMPER: AlarmType.TAMPER,
}
# A reading outside its thresholds → the alarm it raises.
FROM_METER: dict[MeterKind, AlarmType] = {
    MeterKind.WATER: AlarmType.WATER_THRESHOLD,
    MeterKind.ELECTRICITY: AlarmType.ELECTRICITY_THRESHOLD,
    MeterKind.POWER: AlarmType.ELECTRICITY_THRESHOLD,
    MeterKind.GAS: AlarmType.GAS_THRESHOLD,
    MeterKind.GAS_CONCENTRATION: AlarmType.GAS_THRESHOLD,
    MeterKind.HYDRANT_PRESSURE: AlarmType.HYDRANT_PRESSURE,
}
