"""E-bikes of residents, and the anti-theft tag (a credential of kind ``tag``) each may carry."""

from piccolo.columns import ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.credentials.tables import Credential
from backend.registry.tables import Community, House, Person


class EBike(Table):
    """A resident's e-bike. Its tag is a credential (backend/credentials) of kind ``tag``; an e-bike
    without one, or whose tag was revoked, counts against the community's tag coverage."""

    community = ForeignKey(Community, null=False, index=True)
    house = ForeignKey(House, null=False, index=True)
    person = ForeignKey(Person, null=False, index=True)
    brand = Varchar(length=30, default="")
    colour = Varchar(length=20, default="")
    tag = ForeignKey(Credential, null=True, default=None)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    removed_at = Timestamptz(null=True, default=None)
