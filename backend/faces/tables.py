"""Face enrolments: only consented ones, and only to authorise a community's gates."""

from enum import StrEnum

from piccolo.columns import ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

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
