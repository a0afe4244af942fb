"""Findings of the analysis (研判) jobs: what a rule saw, about whom, and who handled it."""

from enum import StrEnum

from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.registry.tables import Community


class RuleName(StrEnum):
    OCCUPANCY = "occupancy"  # 自住/租住/空置 differs from the house's recorded use
    VISITOR_SURGE = "visitor_surge"  # a flat's distinct visitors far above its own baseline
    NIGHT_ENTRIES = "night_entries"  # entries at unusual hours, above a count
    WELFARE = "welfare"  # a person living alone not seen for days: a task for the warden
    CREDENTIAL_AFTER_END = "credential_after_end"  # used after revocation or the residency's end
    KEY_PERSON_MOVEMENT = "key_person_movement"  # 重点人员 passed a door (police only)


# Seen by police only, like the 重点 flags they come from.
POLICE_ONLY = frozenset({RuleName.KEY_PERSON_MOVEMENT})


class FindingState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Finding(Table):
    """One rule's result about one subject (a house or a person) for one period.

    ``slot`` is ``"{rule}:{subject}:{period}"`` and unique: a rerun of a job over the same period
    finds its row taken and adds nothing. A welfare finding is the warden's task: closing it is
    handling it.
    """

    community = ForeignKey(Community, null=False, index=True)
    rule = Varchar(length=30, choices=RuleName, index=True)
    police_only = Boolean(default=False)
    house = Integer(null=True, default=None)
    person = Integer(null=True, default=None)
    period = Varchar(length=20)  # a day (2026-11-26), an ISO week (2026-W48) or a month (2026-11)
    evidence = JSON(default="{}")
    slot = Varchar(length=120, unique=True)
    state = Varchar(length=10, choices=FindingState, default=FindingState.OPEN, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    handled_by = Integer(null=True, default=None)
    handled_at = Timestamptz(null=True, default=None)
    note = Varchar(length=500, default="")
