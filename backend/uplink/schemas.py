"""What the uplink status shows: counts, lag, the latest success and failure, recent rejections.

No personal data: records are named by their key (``alarm:12``), never by their contents.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class TableStatus(msgspec.Struct, frozen=True):
    table: str  # data_standard.json's key, or the 视图库's resource (Faces, MotorVehicles, APEs)
    name: str  # the standard's table name (紧急报警(求助)系统…), or viid.NAMES
    pending: int
    sent: int
    rejected: int
    lag_seconds: float  # the oldest pending record's age; 0 when none is pending


class ProblemOut(msgspec.Struct, frozen=True):
    field: str
    reason: str
    detail: str = ""


class RejectedOut(msgspec.Struct, frozen=True):
    table: str
    record: str  # our key of the source record
    at: datetime
    reason: str  # the target's reason, or the standard check's summary
    problems: list[ProblemOut]  # the standard check's, field by field (empty: the target refused it)


class UplinkStatus(msgspec.Struct, frozen=True):
    configured: bool  # ANJU_UPLINK_URL or ANJU_VIID_URL is set: records are being sent
    pending: int
    sent: int
    rejected: int
    lag_seconds: float
    last_sent_at: datetime | None
    last_failure_at: datetime | None  # the latest failed attempt (retried)
    last_failure: str  # its error: "HTTP 503", "no answer: ClientConnectorError"…
    tables: list[TableStatus]
    recent_rejected: list[RejectedOut]
