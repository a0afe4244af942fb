"""What the compliance self-assessment shows: subsystems, coverage targets, the score sheet item by
item with its evidence, and the district's overview. No personal data: figures only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.registry.enums import Tier


class SubsystemOut(msgspec.Struct, frozen=True):
    key: str  # acceptance_standard.json's key: perimeter, unit_door…
    group: str
    name: str
    area: str
    level: str  # for the community's tier: must (必建) or should (宜建)
    present: bool
    total: int | None  # devices (or checkpoints, services, plates) found; None: nothing to count
    online: int | None  # devices online; None where the subsystem has no devices
    evidence: str


class TargetOut(msgspec.Struct, frozen=True):
    key: str  # doorplates_installed, verification, ebike_tags, data:<table key>
    label: str
    value: float | None  # the share measured; None when there is nothing to measure
    target: float
    met: bool
    evidence: str


class CheckOut(msgspec.Struct, frozen=True):
    key: str
    label: str
    ok: bool
    evidence: str  # what was measured, with its figures


class EntryOut(msgspec.Struct, frozen=True):
    points: float
    note: str
    entered_by: str  # the account's name
    entered_at: datetime


class ItemOut(msgspec.Struct, frozen=True):
    item: str  # "{sheet}-{no}": demonstration-5, standard-1, safety-9
    sheet: str  # demonstration, standard or safety
    no: int
    text: str  # the standard's wording
    points: float  # at most
    measured: bool  # scored from live data; else entered by the police
    score: float | None  # None: an entered item nobody has entered yet (counts 0)
    checks: list[CheckOut]  # measured items: each check is worth an equal share of the points
    entry: EntryOut | None = None


class ComplianceOut(msgspec.Struct, frozen=True):
    community_id: int
    community: str
    tier: Tier
    subsystems: list[SubsystemOut]
    missing_must: list[str]  # keys of 必建 subsystems absent
    missing_should: list[str]  # keys of 宜建 subsystems absent
    coverage: list[TargetOut]
    items: list[ItemOut]
    total: float
    pass_score: float
    passed: bool
    awaiting_entry: int  # entered items nobody has entered yet


class CommunityRow(msgspec.Struct, frozen=True):
    community_id: int
    community: str
    tier: Tier
    total: float
    passed: bool
    awaiting_entry: int
    coverage: list[TargetOut]  # doorplates, verification, e-bike tags, data completeness (overall)
    devices_total: int
    devices_online: int
    open_alarms: int
    uplink_pending: int
    uplink_rejected: int
    uplink_lag_seconds: float


class DistrictComplianceOut(msgspec.Struct, frozen=True):
    district_id: int
    pass_score: float
    communities: list[CommunityRow]


class EntryIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    points: Annotated[float, msgspec.Meta(ge=0, le=100)]
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class TierIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tier: Tier
