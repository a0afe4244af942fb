"""The record types archived after their retention: which table, by which time, and what goes with it.

Only time-stamped event rows that nothing live points at are archived. Rows that reference one
(an alarm's steps, a patrol run's scans and flags) are archived in the same line as it, so no
foreign key is left dangling and a restore brings them back together.

Left out on purpose: the audit trail (its keyed hash chains and signed checkpoints are what
`anju audit` verifies: cutting its head would fail that check), the uplink outbox (a sent row's
key is what keeps a record from being sent twice), sightings and live events (deleted after
their own, shorter, retention: ANJU_SIGHTING_RETENTION_DAYS, ANJU_LIVE_RETENTION_HOURS).
"""

from __future__ import annotations

from dataclasses import dataclass

from piccolo.table import Table

from backend.access.tables import AccessRecord
from backend.alarms.tables import Alarm, AlarmStep
from backend.devices.tables import DeviceEvent
from backend.faces.tables import FacePassage
from backend.intercom.tables import IntercomCall
from backend.patrol.tables import PatrolFlag, PatrolRun, PatrolScan
from backend.vehicles.tables import VehiclePassage
from backend.visitors.tables import Visit


@dataclass(frozen=True)
class Dependent:
    """Rows of ``table`` whose ``column`` points at the archived row."""

    table: type[Table]
    column: str


@dataclass(frozen=True)
class RecordType:
    name: str  # ANJU_RETENTION_<NAME>_DAYS, and the archive's folder
    table: type[Table]
    time: str  # the column whose month the row belongs to
    done: str = ""  # SQL: only rows that are over (a closed alarm, an ended call)
    dependents: tuple[Dependent, ...] = ()

    @property
    def tablename(self) -> str:
        return self.table._meta.tablename


RECORD_TYPES = {
    kind.name: kind
    for kind in (
        RecordType("access", AccessRecord, "at"),
        RecordType("face_passage", FacePassage, "at"),
        RecordType("vehicle_passage", VehiclePassage, "at"),
        RecordType("visit", Visit, "at"),
        RecordType("device_event", DeviceEvent, "at"),
        # An alarm's month is the month it was closed: one still open stays, however old.
        RecordType("alarm", Alarm, "closed_at", "closed_at IS NOT NULL", (Dependent(AlarmStep, "alarm"),)),
        RecordType(
            "patrol",
            PatrolRun,
            "round_end",
            "status <> 'open'",
            (Dependent(PatrolScan, "run"), Dependent(PatrolFlag, "run")),
        ),
        RecordType("intercom_call", IntercomCall, "started_at", "ended_at IS NOT NULL"),
    )
}
