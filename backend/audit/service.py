"""The audit trail: who read or wrote what, when and from where, in a hash chain."""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from datetime import UTC, datetime
from typing import Any

import msgspec

from backend.audit.tables import AuditEntry
from backend.db import is_postgres, transaction
from roles import Principal

GENESIS = "0" * 64
_ADVISORY_LOCK = 0x616E6A75  # serialises appends across app processes on PostgreSQL
_local_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _local_lock() -> asyncio.Lock:
    """One lock per event loop: serialises appends within this process."""
    return _local_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


class ChainReport(msgspec.Struct, frozen=True):
    checked: int
    broken_at: int | None  # seq of the first entry whose hash does not match

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def entry_hash(row: dict[str, Any]) -> str:
    at: datetime = row["at"]
    content = [
        row["seq"],
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        row["actor"],
        row["actor_role"],
        row["action"],
        row["subject"],
        row["community"],
        row["ip"],
        _as_dict(row["detail"]),
        row["prev_hash"],
    ]
    return hashlib.sha256(msgspec.json.encode(content, order="sorted")).hexdigest()


def _as_dict(detail: Any) -> dict:
    return msgspec.json.decode(detail) if isinstance(detail, (str, bytes)) else (detail or {})


async def record(
    who: Principal | None,
    action: str,
    subject: str,
    *,
    community: int | None = None,
    ip: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry; joins the caller's transaction when there is one."""
    engine = AuditEntry._meta.db
    async with _local_lock(), transaction(engine):
        if is_postgres(engine):
            await AuditEntry.raw("SELECT pg_advisory_xact_lock({})", _ADVISORY_LOCK)
        last = (
            await AuditEntry.select(AuditEntry.seq, AuditEntry.hash)
            .order_by(AuditEntry.seq, ascending=False)
            .first()
        )
        row = {
            "seq": (last["seq"] + 1) if last else 1,
            "at": datetime.now(UTC),
            "actor": who.account_id if who else None,
            "actor_role": (who.role or "") if who else "",
            "action": action,
            "subject": subject,
            "community": community,
            "ip": ip,
            "detail": detail or {},
            "prev_hash": last["hash"] if last else GENESIS,
        }
        row["hash"] = entry_hash(row)
        await AuditEntry.insert(AuditEntry(**{**row, "detail": msgspec.json.encode(row["detail"]).decode()}))


async def verify_chain(batch: int = 5000) -> ChainReport:
    """Recompute every hash in order; report the first entry that was edited, removed or reordered."""
    prev, checked, after = GENESIS, 0, 0
    while True:
        rows = await AuditEntry.select().where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
        if not rows:
            return ChainReport(checked=checked, broken_at=None)
        for row in rows:
            if row["prev_hash"] != prev or entry_hash(row) != row["hash"] or row["seq"] != checked + 1:
                return ChainReport(checked=checked, broken_at=row["seq"])
            prev, checked = row["hash"], checked + 1
        after = rows[-1]["seq"]
