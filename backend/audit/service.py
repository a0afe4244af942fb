"""The audit trail: who read or wrote what, when and from where, in a hash chain."""

from __future__ import annotations

import asyncio
import contextvars
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


def entry(
    who: Principal | None,
    action: str,
    subject: str,
    *,
    community: int | None = None,
    ip: str = "",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What happened, by whom, where: the content of one audit entry."""
    return {
        "at": datetime.now(UTC),
        "actor": who.account_id if who else None,
        "actor_role": (who.role or "") if who else "",
        "action": action,
        "subject": subject,
        "community": community,
        "ip": ip,
        "detail": detail or {},
    }


async def _append(entries: list[dict[str, Any]]) -> None:
    """Chain and insert entries after the current head, holding the chain's lock for one transaction.

    SQLite's IMMEDIATE transaction and PostgreSQL's advisory lock both make "read the head,
    insert after it" atomic across connections and processes; nothing is locked after them,
    so appends cannot deadlock with the caller's own transaction.
    """
    engine = AuditEntry._meta.db
    async with transaction(engine):
        if is_postgres(engine):
            await AuditEntry.raw("SELECT pg_advisory_xact_lock({})", _ADVISORY_LOCK)
        head = (
            await AuditEntry.select(AuditEntry.seq, AuditEntry.hash)
            .order_by(AuditEntry.seq, ascending=False)
            .first()
        )
        seq, prev = (head["seq"], head["hash"]) if head else (0, GENESIS)
        rows = []
        for content in entries:
            seq += 1
            row = {**content, "seq": seq, "prev_hash": prev}
            row["hash"] = prev = entry_hash(row)
            rows.append(AuditEntry(**{**row, "detail": msgspec.json.encode(row["detail"]).decode()}))
        await AuditEntry.insert(*rows)


async def record(who: Principal | None, action: str, subject: str, **context: Any) -> None:
    """Audit a write: joins the caller's transaction, so the write and its entry commit together.

    ``context`` is :func:`entry`'s keywords: community, ip, detail.
    """
    await _append([entry(who, action, subject, **context)])


async def record_read(who: Principal | None, action: str, subject: str, **context: Any) -> None:
    """Audit a read of personal data; returns once the entry is durable.

    Reads are the hot path (every staff scan), so concurrent ones share one append
    (group commit) instead of queueing on the chain's lock one by one.
    """
    await _group_commit().submit(entry(who, action, subject, **context))


class _GroupCommit:
    def __init__(self) -> None:
        self._pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def submit(self, content: dict[str, Any]) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((content, done))
        if self._flusher is None or self._flusher.done():
            # A fresh context: the flush must never join some caller's open transaction.
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush(), context=contextvars.Context()
            )
        await done

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await _append([content for content, _ in batch])
            except Exception as exc:  # every waiter learns its entry was not written
                for _, done in batch:
                    done.set_exception(exc)
            else:
                for _, done in batch:
                    done.set_result(None)


_group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _GroupCommit] = (
    weakref.WeakKeyDictionary()
)


def _group_commit() -> _GroupCommit:
    return _group_commits.setdefault(asyncio.get_running_loop(), _GroupCommit())


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
