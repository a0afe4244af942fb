"""The audit trail: who read or wrote what, when and from where, in a keyed hash chain.

Each link is an HMAC under a key derived from the root secret (never stored in the database),
so whoever can write the database cannot re-hash a rewritten chain; signed checkpoints kept
outside the database (``checkpoints.py``) catch a cut tail, which a chain alone cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import hmac
import logging
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from backend.audit import checkpoints
from backend.audit.checkpoints import Checkpoint
from backend.audit.tables import AuditEntry
from backend.db import is_postgres, transaction
from backend.instruments import AUDIT_APPEND_SECONDS, timed
from backend.keys import Keys
from roles import Principal

if TYPE_CHECKING:
    from backend.context import Context

GENESIS = "0" * 64
_ADVISORY_LOCK = 0x616E6A75  # serialises appends across app processes on PostgreSQL
log = logging.getLogger("anju.audit")


class ChainReport(msgspec.Struct, frozen=True):
    checked: int
    broken_at: int | None  # seq of the first entry whose hash does not match
    head: str = GENESIS  # hash of the last good entry
    seen: dict[int, str] = {}  # hashes of the good entries asked for (to compare with checkpoints)

    @property
    def intact(self) -> bool:
        return self.broken_at is None


class AuditReport(msgspec.Struct, frozen=True):
    chain: ChainReport
    checkpoint: Checkpoint | None  # the last validly signed checkpoint, compared against
    problems: list[str]
    written: Checkpoint | None = None  # the verified head, checkpointed by this run

    @property
    def ok(self) -> bool:
        return not self.problems


class _ChainKey:
    """The process's audit chain key, set once at start-up (callers of ``record`` hold no context)."""

    value: bytes | None = None


def use_keys(keys: Keys) -> None:
    _ChainKey.value = keys.audit_chain


def _chain_key() -> bytes:
    if _ChainKey.value is None:
        raise RuntimeError("audit.use_keys() was not called at start-up: no key to chain entries with")
    return _ChainKey.value


def link_content(row: dict[str, Any]) -> bytes:
    """What an entry's link hash covers: its content and the previous entry's hash."""
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
    return msgspec.json.encode(content, order="sorted")


def entry_hash(row: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, link_content(row), hashlib.sha256).hexdigest()


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


@timed(AUDIT_APPEND_SECONDS)
async def _append(entries: list[dict[str, Any]]) -> None:
    """Chain and insert entries after the current head, holding the chain's lock for one transaction.

    SQLite's IMMEDIATE transaction and PostgreSQL's advisory lock both make "read the head,
    insert after it" atomic across connections and processes; nothing is locked after them,
    so appends cannot deadlock with the caller's own transaction.
    """
    engine, key = AuditEntry._meta.db, _chain_key()
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
            row["hash"] = prev = entry_hash(row, key)
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


async def verify_chain(want: frozenset[int] = frozenset(), batch: int = 5000) -> ChainReport:
    """Recompute every keyed hash in order; report the first entry edited, removed, reordered or re-hashed.

    ``want``: seqs whose (verified) hashes the report should carry in ``seen``.
    """
    key, prev, checked, after, seen = _chain_key(), GENESIS, 0, 0, {}
    while True:
        rows = await AuditEntry.select().where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
        if not rows:
            return ChainReport(checked=checked, broken_at=None, head=prev, seen=seen)
        for row in rows:
            if row["prev_hash"] != prev or entry_hash(row, key) != row["hash"] or row["seq"] != checked + 1:
                return ChainReport(checked=checked, broken_at=row["seq"], head=prev, seen=seen)
            prev, checked = row["hash"], checked + 1
            if checked in want:
                seen[checked] = prev
        after = rows[-1]["seq"]


async def verify(ctx: Context) -> AuditReport:
    """The chain, and every validly signed checkpoint against it; then checkpoint the verified head.

    A checkpoint whose entry is missing means the tail was cut; one whose entry has another hash
    means the chain was rewritten past it; a line without a valid signature was forged.
    """
    directory, key = ctx.settings.checkpoint_dir, ctx.keys.audit_checkpoint_key
    kept = await asyncio.to_thread(checkpoints.read, directory, key)
    chain = await verify_chain(frozenset(c.seq for c in kept.valid))
    problems = [
        f"checkpoint line {line} of {checkpoints.path_in(directory)} has no valid signature (forged or corrupted)"
        for line in kept.unsigned_lines
    ]
    if not chain.intact:
        problems.insert(
            0, f"audit chain BROKEN at entry {chain.broken_at} (after {chain.checked} good entries)"
        )
    disagreement = _first_disagreement(chain, kept.valid)  # later ones follow from the first
    problems += [disagreement] if disagreement else []
    report = AuditReport(chain=chain, checkpoint=kept.valid[-1] if kept.valid else None, problems=problems)
    if not report.ok:
        return report
    with contextlib.suppress(checkpoints.GoingBackwards):  # the schedule checkpointed a newer head meanwhile
        written = await asyncio.to_thread(checkpoints.append, directory, key, chain.checked, chain.head)
        report = msgspec.structs.replace(report, written=written)
    return report


def _first_disagreement(chain: ChainReport, valid: list[Checkpoint]) -> str | None:
    for checkpoint in valid:
        if checkpoint.seq == 0 or (not chain.intact and checkpoint.seq >= chain.broken_at):
            continue  # nothing to compare, or already reported as the break
        if checkpoint.seq not in chain.seen:
            return f"tail cut: checkpoint ({checkpoint.label()}) but the chain ends at entry {chain.checked}"
        if chain.seen[checkpoint.seq] != checkpoint.head:
            return f"chain rewritten: checkpoint ({checkpoint.label()}) but that entry's hash differs"
    return None


async def checkpoint(ctx: Context) -> Checkpoint | None:
    """Checkpoint the current head if it moved (the app's schedule); never one behind the last."""
    head = (
        await AuditEntry.select(AuditEntry.seq, AuditEntry.hash)
        .order_by(AuditEntry.seq, ascending=False)
        .first()
    )
    seq, hash_ = (head["seq"], head["hash"]) if head else (0, GENESIS)
    try:
        return await asyncio.to_thread(
            checkpoints.append, ctx.settings.checkpoint_dir, ctx.keys.audit_checkpoint_key, seq, hash_
        )
    except checkpoints.GoingBackwards as exc:
        log.error("audit checkpoint refused, the chain may have been cut: %s; run `anju audit`", exc)
        return None


@contextlib.asynccontextmanager
async def trail(ctx: Context) -> AsyncIterator[None]:
    """The app's audit trail: chain with this deployment's key; checkpoint its head on a schedule."""
    use_keys(ctx.keys)
    task = asyncio.create_task(_checkpoint_every(ctx, ctx.settings.audit_checkpoint_minutes * 60))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _checkpoint_every(ctx: Context, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await checkpoint(ctx)
        except Exception:  # a passing database or disk error must not end the schedule
            log.exception("audit checkpoint failed; retrying in %s s", seconds)
