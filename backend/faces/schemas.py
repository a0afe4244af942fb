from __future__ import annotations

import datetime as dt

import msgspec

from backend.faces.tables import ConsentMethod


class ConsentOut(msgspec.Struct):
    version: str
    text: str


class EnrolmentOut(msgspec.Struct):
    """An enrolment as its household and the community's staff see it: who, and on what consent."""

    id: int
    community: int
    house: int
    person: int
    name: str
    consent_version: str
    consent_method: ConsentMethod
    consent_note: str
    enrolled_by: int
    created_at: dt.datetime
    mine: bool  # enrolled by the caller: its photo is theirs to see
