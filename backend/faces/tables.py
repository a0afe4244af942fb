"""Face enrolments (only consented ones, only to authorise a community's gates), the police watch
list, and the gates' decisions (抓拍人像信息)."""

from enum import StrEnum

from piccolo.columns import Boolean, ForeignKey, Integer, Real, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.access.tables import Door
from backend.devices.tables import Device
from backend.registry.tables import Community, House, Person


class ConsentMethod(StrEnum):
    SELF = "self"  # the person, signed in, accepted the consent text
    HOUSEHOLD = "household"  # a household member, signed in, accepted it on the person's behalf
    STAFF_RECORDED = "staff_recorded"  # staff recorded the person's consent (a signed form, its number)


class FaceEnrolment(Table):
    """One person's face in one community's gallery.

    The embedding and the enrolment crop are sealed like ID numbers; deleting the row deletes both.
    ``key`` (community:person) allows one enrolment per person and community. ``pack`` names the
    model pack that made the embedding: another pack's embeddings do not compare.
    """

    key = Varchar(length=40, unique=True)
    community = ForeignKey(Community, null=False, index=True)
    house = ForeignKey(House, null=False, index=True)
    person = ForeignKey(Person, null=False, index=True)
    pack = Varchar(length=50)
    embedding_sealed = Text()
    photo_sealed = Text()
    consent_version = Varchar(length=20)
    consent_method = Varchar(length=20, choices=ConsentMethod)
    consent_note = Varchar(length=200, default="")
    enrolled_by = Integer()  # the account that enrolled it and recorded the consent
    created_at = Timestamptz(default=TimestamptzNow())


class FaceGallery(Table):
    """A community's gallery version: enrolling, deleting and changing the watch list bump it in the
    same transaction, so a bridge worker reloads the community's faces before its next decision."""

    community = ForeignKey(Community, null=False, unique=True)
    version = Integer(default=0)


class FaceWatch(Table):
    """A person the community police want to know about (布控人员): read and written by police only.
    A watched face never opens a gate: a sighting raises a police-only alarm with the capture."""

    community = ForeignKey(Community, null=False, index=True)
    name = Varchar(length=50)  # XYR_XM
    id_type = Varchar(length=3, default="")  # ZJLX code of the document, when known
    id_number_sealed = Text(default="")  # XYR_ZJHM, sealed
    note = Varchar(length=200, default="")
    pack = Varchar(length=50)
    embedding_sealed = Text()
    photo_sealed = Text()  # DK_ZP: the reference photo's face crop
    created_by = Integer()
    created_at = Timestamptz(default=TimestamptzNow())


class GateReason(StrEnum):
    MATCHED = "matched"  # an enrolled resident of a household this door opens for
    NOT_ALLOWED = "not_allowed"  # an enrolled face, but not (or no longer) allowed through this door
    UNKNOWN = "unknown"  # no enrolment close enough
    NO_FACE = "no_face"  # the capture shows no face
    UNREADABLE = "unreadable"  # the capture is not an image
    ON_GATE = "on_gate"  # the gate matched on its own (device-side matching)


class FacePassage(Table):
    """A face gate's capture and the decision on it: the 抓拍人像信息 fields our data can fill.

    The capture itself is not kept (seed 五.(五)): it goes to the capture sink when one is
    configured, and ``capture_sealed`` holds it only for the configured retention (none by
    default) or, for a watch-list sighting, the police's evidence window.
    """

    community = ForeignKey(Community, null=False, index=True)
    device = ForeignKey(Device, null=False, index=True)  # CJSB_BH, SBMC, DLWZ, DQJD/DQWD
    door = ForeignKey(Door, null=True, default=None)
    direction = Varchar(length=3)  # FX
    at = Timestamptz(index=True)  # ZP_RQSJ / FXSJ: the gate's time
    enrolment = Integer(null=True, default=None)  # no foreign key: a deleted enrolment leaves the record
    person = ForeignKey(Person, null=True, default=None)
    house = ForeignKey(House, null=True, default=None)
    score = Real(null=True, default=None)  # XSD: cosine similarity of the best match
    reason = Varchar(length=12, choices=GateReason)
    passed = Boolean(index=True)
    watch = ForeignKey(FaceWatch, null=True, default=None, on_delete=OnDelete.set_null)  # police only
    alarm = Integer(null=True, default=None)  # the police alarm a watch-list sighting raised
    command = Varchar(length=100, default="")  # the open command's id, once one was sent
    opened = Boolean(null=True, default=None)  # the gate's ack; NULL while unanswered
    capture_sealed = Text(default="")
    capture_until = Timestamptz(null=True, default=None)  # when the kept capture is erased
    key = Varchar(length=100, unique=True)  # the device event: a redelivery is a no-op
    created_at = Timestamptz(default=TimestamptzNow())  # CC_RQSJ


class CaptureOutbox(Table):
    """Captures waiting for the capture sink (seed 五.(五): forwarded, not kept): a row is written in
    the decision's transaction and deleted once the sink has taken it."""

    key = Varchar(length=100, unique=True)  # the passage's key: the sink's idempotency key
    community = Integer(index=True)
    body_sealed = Text()  # the JSON document sent, the capture in it, sealed
    attempts = Integer(default=0)
    due_at = Timestamptz(default=TimestamptzNow(), index=True)
