"""Households' vehicles, the vehicles seen at barriers (机动车出入信息) and the police watch list."""

from enum import StrEnum

from piccolo.columns import Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.devices.tables import Device
from backend.registry.tables import Community, House


class Vehicle(Table):
    """A household's vehicle. ``active_slot`` is "{community}:{plate}" while the registration is
    active and NULL once revoked: the unique index allows one active registration per plate and
    community, also against two registrations racing."""

    community = ForeignKey(Community, null=False, index=True)
    house = ForeignKey(House, null=False, index=True)
    plate = Varchar(length=15, index=True)  # JDCHPHM, normalised (plates.clean)
    hpzl = Varchar(length=2)  # JDCHPZLDM: 号牌种类 (codes HPZL)
    color = Varchar(length=1, default="")  # JDCCSYSDM: 车身颜色 (codes CSYS)
    active_slot = Varchar(length=40, null=True, default=None, unique=True)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_by = Integer(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class Outcome(StrEnum):
    PASSED = "passed"  # the platform opened the barrier: a registered or visitor vehicle, or leaving
    HELD = "held"  # waiting for the guard
    LET_IN = "let_in"  # the guard opened it
    REFUSED = "refused"  # the guard refused it


class Reason(StrEnum):
    REGISTERED = "registered"
    VISITOR = "visitor"  # named on a visitor pass valid at that moment
    LEAVING = "leaving"  # the barrier opens for every vehicle going out
    UNKNOWN = "unknown"


class VehiclePassage(Table):
    """One vehicle at a barrier: the 机动车出入信息 record (see service.STANDARD_FIELDS)."""

    community = ForeignKey(Community, null=False, index=True)
    device = ForeignKey(Device, null=False, index=True)
    plate = Varchar(length=15, index=True)
    hpzl = Varchar(length=2)
    color = Varchar(length=1, default="")  # the registered vehicle's 车身颜色
    plate_color = Varchar(length=10, default="")  # CPYS, as the camera named it
    direction = Varchar(length=3)
    at = Timestamptz(index=True)
    picture = Varchar(length=300, default="")  # the camera's snapshot reference
    vehicle = ForeignKey(Vehicle, null=True, default=None)
    house = ForeignKey(House, null=True, default=None)  # the registered vehicle's household
    visitor_pass = Integer(null=True, default=None)
    reason = Varchar(length=12, choices=Reason)
    outcome = Varchar(length=10, choices=Outcome, index=True)
    watched = Boolean(default=False)  # ZDCL_PDBS; shown to nobody but police (through the alarm)
    command = Varchar(length=100, default="")  # the open command's id, once one was sent
    opened = Boolean(null=True, default=None)  # the barrier's ack; NULL while unanswered
    decided_by = Integer(null=True, default=None)  # the guard who let it in or refused it
    decided_at = Timestamptz(null=True, default=None)
    key = Varchar(length=100, unique=True)  # the device event: a redelivery is a no-op


class WatchedPlate(Table):
    """A plate the community police want to know about (布控); read and written by police only."""

    community = ForeignKey(Community, null=False, index=True)
    plate = Varchar(length=15)
    note = Varchar(length=200, default="")
    active_slot = Varchar(length=40, null=True, default=None, unique=True)  # as Vehicle's
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    removed_by = Integer(null=True, default=None)
    removed_at = Timestamptz(null=True, default=None)
