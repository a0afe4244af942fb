from __future__ import annotations

import datetime as dt

import msgspec

from backend.faces.tables import ConsentMethod, GateReason


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


class WatchOut(msgspec.Struct):
    """A police watch-list entry (its reference photo at /api/face-watch/{id}/photo)."""

    id: int
    community_id: int
    name: str
    note: str
    created_at: dt.datetime


class FacePassageOut(msgspec.Struct, omit_defaults=True):
    """A face gate's decision on a capture (the capture itself is not kept)."""

    id: int
    device_id: int
    device_name: str
    door_id: int | None
    direction: str
    at: dt.datetime
    person_id: int | None  # the enrolled resident matched, if any
    name: str
    house_id: int | None
    score: float | None  # cosine similarity of the best enrolment
    reason: GateReason
    passed: bool
    opened: bool | None  # the gate's answer to ``open``; null while unanswered or not sent
    watched: bool | None = None  # police only (absent for others): the face matched the watch list
