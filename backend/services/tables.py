"""Per-community service tiles and residents' service requests (民生服务)."""

from enum import StrEnum

from piccolo.columns import Boolean, Bytea, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.accounts.tables import Account
from backend.registry.tables import Community


class TileKind(StrEnum):
    PARTY = "party"  # 党建
    ELDERLY_MEDICAL = "elderly_medical"  # 养老医疗
    EDUCATION = "education"
    FITNESS = "fitness"
    PAYMENT = "payment"  # 生活缴费
    FOOD = "food"
    POST = "post"  # 快递邮政
    NAVIGATION = "navigation"
    REPAIRS = "repairs"
    OTHER = "other"


class RequestCategory(StrEnum):
    REPAIRS = "repairs"  # 报修
    CLEANING = "cleaning"
    UTILITIES = "utilities"
    SECURITY = "security"
    NEIGHBOURS = "neighbours"
    OTHER = "other"


class RequestStatus(StrEnum):
    OPEN = "open"
    TAKEN = "taken"
    CLOSED = "closed"


class ServiceTile(Table):
    community = ForeignKey(Community, null=False, index=True)
    kind = Varchar(length=20, choices=TileKind)
    title = Varchar(length=50)
    text = Varchar(length=300, default="")
    hours = Varchar(length=50, default="")
    phone = Varchar(length=20, default="")
    url = Varchar(length=300, default="")
    position = Integer(default=0)
    enabled = Boolean(default=True)


class ServiceRequest(Table):
    community = ForeignKey(Community, null=False, index=True)
    requester = ForeignKey(Account, null=False, index=True)
    place = Varchar(length=200, default="")  # the requester's flat when filed
    category = Varchar(length=20, choices=RequestCategory)
    text = Varchar(length=1000)
    status = Varchar(length=10, choices=RequestStatus, default=RequestStatus.OPEN, index=True)
    handler = ForeignKey(Account, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    closed_at = Timestamptz(null=True, default=None)
    rating = Integer(null=True, default=None)
    rating_comment = Varchar(length=300, default="")


class ServiceRequestEvent(Table):
    """A step of a request; the steps staff take are also the requester's notifications (unseen until read)."""

    request = ForeignKey(ServiceRequest, null=False, index=True)
    account = ForeignKey(Account, null=False)
    step = Varchar(length=10)
    note = Varchar(length=500, default="")
    at = Timestamptz(default=TimestamptzNow())
    seen_at = Timestamptz(null=True, default=None)


class ServiceRequestPhoto(Table):
    """The request's photo, re-encoded as JPEG (metadata such as GPS dropped), kept in the database."""

    request = ForeignKey(ServiceRequest, null=False, unique=True)
    data = Bytea()
    bytes = Integer()
    created_at = Timestamptz(default=TimestamptzNow())
