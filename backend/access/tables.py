"""Doors, grants and access records (门禁刷卡信息)."""

from enum import StrEnum

from piccolo.columns import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.accounts.tables import Account
from backend.devices.tables import Device
from backend.registry.tables import Building, Community, Gate, House, Person, Unit


class DoorKind(StrEnum):
    GATE = "gate"  # community gate: every verified resident of the community
    BUILDING = "building"  # building door: residents of that building
    UNIT = "unit"  # unit door: residents of that unit
    GARAGE = "garage"  # by grant only


class Door(Table):
    community = ForeignKey(Community, null=False, index=True)
    name = Varchar(length=100)
    kind = Varchar(length=10, choices=DoorKind)
    gate = ForeignKey(Gate, null=True, default=None)
    building = ForeignKey(Building, null=True, default=None)
    unit = ForeignKey(Unit, null=True, default=None)
    device = ForeignKey(Device, null=False, index=True)
    device_door = Varchar(length=20, default="")  # door number on a multi-door controller


class AccessGrant(Table):
    """A staff or police account's right to open a community's doors (or one door) for a period."""

    community = ForeignKey(Community, null=False, index=True)
    account = ForeignKey(Account, null=False, index=True)
    door = ForeignKey(Door, null=True, default=None)  # null: every door of the community
    valid_from = Timestamptz()
    valid_until = Timestamptz()
    created_by = Integer(null=True, default=None)
    reason = Varchar(length=200, default="")


class AccessRecord(Table):
    """One pass (or refusal) at a door, by any way in; the 门禁刷卡信息 record of the data standard."""

    community = ForeignKey(Community, null=False, index=True)
    door = ForeignKey(Door, null=True, default=None)
    device = ForeignKey(Device, null=False, index=True)
    building = ForeignKey(Building, null=True, default=None)
    unit = ForeignKey(Unit, null=True, default=None)
    method = Varchar(length=20)  # protocol.AccessMethod
    direction = Varchar(length=3)
    granted = Boolean()
    account = ForeignKey(Account, null=True, default=None)
    person = ForeignKey(Person, null=True, default=None)
    credential = Varchar(length=50, default="")  # card number (JMK_BH) or masked document number
    # Who passed, resolved from a registered credential at the pass (backend/credentials):
    # ``resolution`` is "person" or "unknown" (a credential nobody holds), "" for other ways in.
    resolution = Varchar(length=10, default="")
    house = ForeignKey(House, null=True, default=None)  # the holder's household
    name = Varchar(length=50, default="")  # XM, as registered at the pass
    id_number_sealed = Text(default="")  # GMSFHM, sealed like the registry's
    ld_bm = Varchar(length=30, default="")  # LD_BM: the holder's building number
    sk_fsdm = Varchar(length=2, default="")  # SK_FSDM: the method's KMFSDM code
    at = Timestamptz(index=True)
    key = Varchar(length=100, unique=True)  # idempotency: device event or phone-open command
    created_at = Timestamptz(default=TimestamptzNow())
