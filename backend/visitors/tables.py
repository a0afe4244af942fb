"""Visitor passes, the visits made with them, and each community's walk-in policy.

The data standard's 居民入住信息 carries a visitor's name and mobile as FK_XM (访客姓名, 50) and
FK_SJHM (访客手机号码, 18): they are ``VisitorPass.visitor_name`` and the sealed
``VisitorPass.phone_sealed`` (see ``backend/uplink/operations.py``).
"""

from enum import StrEnum

from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.registry.tables import Community, House


class PassKind(StrEnum):
    INVITATION = "invitation"  # a resident invited the visitor from the PWA
    WALK_IN = "walk_in"  # the guard desk registered the visitor's ID document


class PassStatus(StrEnum):
    PENDING = "pending"  # a walk-in awaiting the household's confirmation
    ACTIVE = "active"
    REVOKED = "revoked"


class VisitorPolicy(Table):
    """A community's visitor rules; a community without a row needs no confirmation of walk-ins."""

    community = ForeignKey(Community, null=False, unique=True)
    confirm_walk_ins = Boolean(default=False)


class VisitorPass(Table):
    community = ForeignKey(Community, null=False, index=True)
    house = ForeignKey(House, null=False, index=True)  # the household visited
    kind = Varchar(length=12, choices=PassKind)
    issued_by = Integer(index=True)  # the inviting resident's or the guard's account
    visitor_name = Varchar(length=50)  # FK_XM
    phone_sealed = Text(default="")  # FK_SJHM, sealed like residents' phones
    id_type = Varchar(length=3, default="")  # ZJLX of the walk-in's document (居住证 numbers are ID numbers)
    id_number_sealed = Text(default="")
    id_number_hash = Varchar(length=64, default="", index=True)  # keyed: find a visitor's passes
    plate = Varchar(length=8, default="")  # the visitor's vehicle, if any
    doors = JSON(default=[])  # door ids, as signed into the token
    valid_from = Timestamptz()
    valid_until = Timestamptz()
    uses = Integer()  # door openings the pass allows
    uses_left = Integer()
    status = Varchar(length=10, choices=PassStatus, index=True)
    share_hash = Varchar(length=64, unique=True)  # keyed digest of the share link's token, never the token
    created_at = Timestamptz(default=TimestamptzNow())
    confirmed_by = Integer(null=True, default=None)
    revoked_by = Integer(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class Visit(Table):
    """One use, or refused use, of a pass at a door: the visit record."""

    visitor_pass = ForeignKey(VisitorPass, null=False, index=True)
    community = ForeignKey(Community, null=False, index=True)
    door = Integer(null=True, default=None)
    direction = Varchar(length=3)  # in / out
    via = Varchar(length=10)  # "link" (the share link's open button) or "device" (token shown at a door)
    granted = Boolean()
    reason = Varchar(length=20, default="")  # why refused (service.Refused codes)
    at = Timestamptz(index=True)
    key = Varchar(length=100, unique=True)  # idempotency: the tap or the device event
