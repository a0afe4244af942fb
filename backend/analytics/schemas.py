from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from backend.analytics.tables import FindingState, RuleName


class FindingOut(msgspec.Struct):
    id: int
    community: int
    rule: RuleName
    police_only: bool
    house: int | None
    person: int | None
    period: str
    evidence: dict[str, Any]
    state: FindingState
    created_at: dt.datetime
    handled_by: int | None
    handled_at: dt.datetime | None
    note: str
    address: str = ""  # the house's standard address
    name: str = ""  # the person's name (staff of the community see residents' names)


class CloseIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""
