"""The pure rules of a patrol: when a shift's rounds are, and what a finished round is flagged for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from backend.patrol.tables import FlagKind

LOCAL = ZoneInfo("Asia/Shanghai")  # shifts are written in Wuhan's wall-clock time
DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class Shift:
    starts: int  # minutes after local midnight
    ends: int  # at or before ``starts``: the window ends the next day
    every: int  # minutes between rounds; 0: one round
    tolerance: int


@dataclass(frozen=True, slots=True)
class Round:
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True, slots=True)
class Stop:
    checkpoint: int
    position: int
    minute: int  # due this many minutes after the round starts


@dataclass(frozen=True, slots=True)
class Flag:
    checkpoint: int
    kind: FlagKind
    detail: str


def _rounds(shift: Shift, day: dt.date) -> list[Round]:
    opens = dt.datetime.combine(day, dt.time(), LOCAL) + dt.timedelta(minutes=shift.starts)
    length = (shift.ends - shift.starts) % DAY or DAY
    closes = opens + dt.timedelta(minutes=length)
    step = dt.timedelta(minutes=shift.every or length)
    starts = []
    at = opens
    while at < closes:
        starts.append(at)
        at += step
    return [Round(start, min(start + step, closes)) for start in starts]


def round_at(shift: Shift, now: dt.datetime) -> Round | None:
    """The round a run started at ``now`` belongs to: the latest one begun (up to the tolerance
    early) and not yet over; a window that began yesterday evening counts too."""
    today = now.astimezone(LOCAL).date()
    early = dt.timedelta(minutes=shift.tolerance)
    current = [
        each
        for day in (today - dt.timedelta(days=1), today)
        for each in _rounds(shift, day)
        if each.start - early <= now < each.end
    ]
    return max(current, key=lambda each: each.start, default=None)


def flags(
    stops: Iterable[Stop], scans: Iterable[tuple[int, dt.datetime]], round_: Round, tolerance: int
) -> list[Flag]:
    """Missed checkpoints, and scanned ones out of the route's order, too early or too late."""
    by_id = {stop.checkpoint: stop for stop in stops}
    found: list[Flag] = []
    furthest = 0
    seen = set()
    margin = dt.timedelta(minutes=tolerance)
    for checkpoint, at in sorted(scans, key=lambda scan: scan[1]):
        stop = by_id[checkpoint]
        seen.add(checkpoint)
        if stop.position < furthest:
            found.append(Flag(checkpoint, FlagKind.OUT_OF_ORDER, f"after position {furthest}"))
        furthest = max(furthest, stop.position)
        due = round_.start + dt.timedelta(minutes=stop.minute)
        if at < due - margin:
            found.append(Flag(checkpoint, FlagKind.EARLY, f"{_minutes(due - at)} min early"))
        elif at > due + margin:
            found.append(Flag(checkpoint, FlagKind.LATE, f"{_minutes(at - due)} min late"))
    found += [
        Flag(stop.checkpoint, FlagKind.MISSED, "not scanned")
        for stop in sorted(by_id.values(), key=lambda stop: stop.position)
        if stop.checkpoint not in seen
    ]
    return found


def _minutes(delta: dt.timedelta) -> int:
    return round(delta.total_seconds() / 60)


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def minutes_of(text: str) -> int | None:
    """ "22:00" → 1320; None for anything that is not a time of day."""
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        return None
    value = int(hours) * 60 + int(minutes)
    return value if int(hours) < 24 and int(minutes) < 60 else None
