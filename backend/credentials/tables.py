"""Credentials: what identifies a person at a door other than their phone or face."""

from enum import StrEnum

from piccolo.columns import ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.registry.tables import Community, House, Person


class CredentialKind(StrEnum):
    CARD = "card"  # IC card (门禁卡), by its number
    ID_CARD = "id_card"  # the holder's own 居民身份证, read by the door's ID-card reader
    PIN = "pin"  # a keypad code the platform issues
    TAG = "tag"  # an e-bike's RFID tag


class Credential(Table):
    """A card, ID card, PIN or tag registered to a person of a household.

    ``value_hash`` is the keyed lookup hash of (community, kind, value): a device pass finds its
    holder by it. ``active_hash`` repeats it while the credential is active and is NULL once
    revoked, so the unique index allows one active holder per value and community.
    ``value_sealed`` keeps card and ID numbers for staff; a PIN is never stored, only its hash.
    """

    community = ForeignKey(Community, null=False, index=True)
    house = ForeignKey(House, null=False, index=True)
    person = ForeignKey(Person, null=False, index=True)
    kind = Varchar(length=10, choices=CredentialKind)
    value_hash = Varchar(length=64, index=True)
    active_hash = Varchar(length=64, null=True, default=None, unique=True)
    value_sealed = Text(default="")
    label = Varchar(length=50, default="")
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_by = Integer(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
