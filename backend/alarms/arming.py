"""Arming schedules (分区、分时、分级设防): per zone and weekly time window, whether perimeter and
video-analytics events raise alarms, and at what level.

A rule names a perimeter zone (or none: the whole community), the alarm types it covers (none: every
armable type), the days and the wall-clock window (Wuhan time; ``start == until`` is all day, and
``start > until`` runs overnight into the next day, counted as the day it began) and a level:
``off`` (disarmed: the event is stored, no alarm is raised) or a severity. Where rules overlap, a
zone's own rules beat the community-wide ones, and among rules of the same reach the highest level
wins, so a mistaken ``off`` never silences a rule that arms. Without a matching rule, an event
raises its alarm at its usual severity: a community is armed until it says otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import msgspec

from backend.alarms.kinds import RULES, AlarmType, Severity

LOCAL = ZoneInfo("Asia/Shanghai")
OFF = "off"
ARMABLE = frozenset(
    {
        AlarmType.INTRUSION,
        AlarmType.CROWDING,
        AlarmType.LOITERING,
        AlarmType.LINE_CROSSING,
        AlarmType.THROWN_OBJECT,
    }
)
LEVELS = (OFF, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)  # lowest first
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
DAYS = re.compile(r"^[1-7]{1,7}$")


class Window(msgspec.Struct, frozen=True):
    """One rule as the decision needs it."""

    zone: int | None
    types: frozenset[str]  # empty: every armable type
    days: str  # ISO weekdays, "1234567"
    start: str  # HH:MM
    until: str  # HH:MM
    level: str  # OFF or a Severity

    def covers(self, alarm_type: AlarmType, at: dt.datetime) -> bool:
        if self.types and alarm_type not in self.types:
            return False
        local = at.astimezone(LOCAL)
        clock = local.strftime("%H:%M")
        if self.start == self.until:
            return str(local.isoweekday()) in self.days
        if self.start < self.until:
            return self.start <= clock < self.until and str(local.isoweekday()) in self.days
        if clock >= self.start:  # overnight, before midnight: the day it began
            return str(local.isoweekday()) in self.days
        began = (local - dt.timedelta(days=1)).isoweekday()
        return clock < self.until and str(began) in self.days


def level(windows: list[Window], alarm_type: AlarmType, at: dt.datetime, zone: int | None) -> Severity | None:
    """The severity the event raises its alarm at; None when it is disarmed."""
    usual = RULES[alarm_type].severity
    if alarm_type not in ARMABLE:
        return usual
    matching = [w for w in windows if w.zone in (zone, None) and w.covers(alarm_type, at)]
    own = [w for w in matching if w.zone is not None and w.zone == zone]
    chosen = own or matching
    if not chosen:
        return usual
    highest = max((w.level for w in chosen), key=LEVELS.index)
    return None if highest == OFF else Severity(highest)


def checked(types: list[str], days: str, start: str, until: str, level_: str) -> str | None:
    """What is wrong with a rule's fields, as an error code; None if nothing."""
    if any(t not in ARMABLE for t in types):
        return "not_armable"
    if not DAYS.match(days) or len(set(days)) != len(days):
        return "invalid_days"
    if not (CLOCK.match(start) and CLOCK.match(until)):
        return "invalid_time"
    if level_ not in LEVELS:
        return "invalid_level"
    return None
