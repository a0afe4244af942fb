"""Patrol routes of checkpoints, their QR tags, shifts, runs, scans and flags (电子巡查)."""

from enum import StrEnum

from piccolo.columns import Boolean, DoublePrecision, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.accounts.tables import Account
from backend.registry.tables import Building, Community, Gate, Unit


class RunStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class FlagKind(StrEnum):
    MISSED = "missed"
    OUT_OF_ORDER = "out_of_order"
    EARLY = "early"
    LATE = "late"


class PatrolRoute(Table):
    community = ForeignKey(Community, null=False, index=True)
    name = Varchar(length=100)
    created_at = Timestamptz(default=TimestamptzNow())


class Checkpoint(Table):
    route = ForeignKey(PatrolRoute, null=False, index=True)
    community = ForeignKey(Community, null=False, index=True)
    name = Varchar(length=100)
    position = Integer()  # its place in the route's order, from 1
    minute = Integer(default=0)  # when the guard is due there, in minutes after the round starts
    building = ForeignKey(Building, null=True, default=None)
    unit = ForeignKey(Unit, null=True, default=None)
    gate = ForeignKey(Gate, null=True, default=None)
    place = Varchar(length=200, default="")  # where exactly, as people say it
    nfc_tag = Varchar(length=64, default="")


class CheckpointTag(Table):
    """A checkpoint's QR tag: an opaque, revocable token, like a doorplate's."""

    checkpoint = ForeignKey(Checkpoint, null=False, index=True)
    token = Varchar(length=32, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_at = Timestamptz(null=True, default=None)


class PatrolShift(Table):
    """A daily window of rounds in local time; ``ends`` at or before ``starts`` crosses midnight."""

    route = ForeignKey(PatrolRoute, null=False, index=True)
    community = ForeignKey(Community, null=False, index=True)
    name = Varchar(length=100)
    starts = Integer()  # minutes after local midnight
    ends = Integer()
    every = Integer(default=0)  # minutes between rounds; 0: one round for the whole window
    tolerance = Integer(default=10)  # minutes early or late before a checkpoint is flagged


class PatrolRun(Table):
    """One guard's round of a shift."""

    community = ForeignKey(Community, null=False, index=True)
    route = ForeignKey(PatrolRoute, null=False)
    shift = ForeignKey(PatrolShift, null=False, index=True)
    guard = ForeignKey(Account, null=False, index=True)
    round_start = Timestamptz()
    round_end = Timestamptz(index=True)
    started_at = Timestamptz(default=TimestamptzNow())
    ended_at = Timestamptz(null=True, default=None)
    status = Varchar(length=10, choices=RunStatus, default=RunStatus.OPEN, index=True)


class PatrolScan(Table):
    run = ForeignKey(PatrolRun, null=False, index=True)
    checkpoint = ForeignKey(Checkpoint, null=False)
    guard = ForeignKey(Account, null=False)
    at = Timestamptz()
    latitude = DoublePrecision(null=True, default=None)
    longitude = DoublePrecision(null=True, default=None)
    by_nfc = Boolean(default=False)
    key = Varchar(length=40, unique=True)  # run:checkpoint: each checkpoint counts once per run


class PatrolFlag(Table):
    run = ForeignKey(PatrolRun, null=False, index=True)
    checkpoint = ForeignKey(Checkpoint, null=False)
    kind = Varchar(length=20, choices=FlagKind)
    detail = Varchar(length=200, default="")
