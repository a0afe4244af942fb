"""The audit trail: who read or wrote what, when and from where, in keyed hash chains.

One chain per community (and the district chain, 0, for entries tied to no community), so
appends to different communities never wait for each other; the chain id is part of every
link, so an entry cannot be moved from one chain to another. Each link is an HMAC under a key
derived from the root secret (never stored in the database), so whoever can write the
database cannot re-hash a rewritten chain; signed checkpoints of every chain's head, kept
outside the database (``checkpoints.py``), catch a cut tail, which a chain alone cannot.
Entries written before per-community chains stay, as they were hashed, in the frozen legacy
chain (-1).
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
from asyncpg.exceptions import UniqueViolationError

from backend.audit import checkpoints
from backend.audit.checkpoints import Checkpoint
from backend.audit.tables import DISTRICT_CHAIN, LEGACY_CHAIN, AuditEntry
from backend.db import is_postgres, transaction
from backend.instruments import AUDIT_APPEND_SECONDS, timed
from backend.keys import Keys
from backend.process import in_background
from device_bridge.store import placeholders, postgres_connection
from roles import Principal

if TYPE_CHECKING:
    from backend.context import Context

GENESIS = "0" * 64
# With the chain id, the key of the PostgreSQL advisory lock that serialises one chain's appends.
_ADVISORY_LOCK = 0x616E6A75
log = logging.getLogger("anju.audit")


class ChainReport(msgspec.Struct, frozen=True):
    checked: int
    broken_at: int | None  # seq of the first entry whose hash does not match
    head: str = GENESIS  # hash of the last good entry
    seen: dict[int, str] = {}  # hashes of the good entries asked for (to compare with checkpoints)
    chain: int = DISTRICT_CHAIN

    @property
    def intact(self) -> bool:
        return self.broken_at is None


class AuditReport(msgspec.Struct, frozen=True):
    chains: dict[int, ChainReport]  # every chain in the database or in a checkpoint
    checkpoint: Checkpoint | None  # the last validly signed checkpoint, compared against
    problems: list[str]
    written: Checkpoint | None = None  # the verified heads, checkpointed by this run

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def checked(self) -> int:
        return sum(chain.checked for chain in self.chains.values())


def chain_of(community: int | None) -> int:
    """The chain an entry goes to: its community's, or the district chain."""
    return DISTRICT_CHAIN if community is None else community


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
    """What an entry's link hash covers: its chain, its content and the previous entry's hash.

    Legacy entries were hashed before chains existed: their links cover no chain id.
    """
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
    if row["chain"] != LEGACY_CHAIN:
        content.insert(0, row["chain"])
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
        "chain": chain_of(community),
        "at": datetime.now(UTC),
        "actor": who.account_id if who else None,
        "actor_role": (who.role or "") if who else "",
        "action": action,
        "subject": subject,
        "community": community,
        "ip": ip,
        "detail": detail or {},
    }


async def _append(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chain and insert entries after their chains' heads, holding each chain's lock for one transaction.

    SQLite's IMMEDIATE transaction and PostgreSQL's per-chain advisory lock both make "read the
    head, insert after it" atomic across connections and processes. Chains are locked in id
    order, so two appends that touch the same chains cannot deadlock each other.

    Returns the appended rows. Forgets the chains' heads this process knew: they are no longer
    the heads, and the caller's transaction may yet roll these entries back.
    """
    engine, key = AuditEntry._meta.db, _chain_key()
    by_chain: dict[int, list[dict[str, Any]]] = {}
    for content in entries:
        by_chain.setdefault(content["chain"], []).append(content)
    known = _known_heads_of(engine)
    for chain in by_chain:
        known.pop(chain, None)
    async with transaction(engine):
        rows = []
        for chain in sorted(by_chain):
            if is_postgres(engine):
                await AuditEntry.raw("SELECT pg_advisory_xact_lock({}, {})", _ADVISORY_LOCK, chain)
            rows += _linked(by_chain[chain], *await _head(chain), key)
        await AuditEntry.insert(*(AuditEntry(**_storable(row)) for row in rows))
    return rows


def _linked(contents: list[dict[str, Any]], seq: int, prev: str, key: bytes) -> list[dict[str, Any]]:
    """The entries as links of their chain, after the entry (seq, prev)."""
    rows = []
    for content in contents:
        seq += 1
        row = {**content, "seq": seq, "prev_hash": prev}
        row["hash"] = prev = entry_hash(row, key)
        rows.append(row)
    return rows


def _storable(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "detail": msgspec.json.encode(row["detail"]).decode()}


# Each process's last committed entry (seq, hash) of each chain it appended reads to, per engine.
_known_heads: weakref.WeakKeyDictionary[Any, dict[int, tuple[int, str]]] = weakref.WeakKeyDictionary()


def _known_heads_of(engine: Any) -> dict[int, tuple[int, str]]:
    """On PostgreSQL; SQLite appends under its one write lock anyway, so it keeps none (an empty dict)."""
    return _known_heads.setdefault(engine, {}) if is_postgres(engine) else {}


# Appends a read batch after the head this process believes the chain has, in one statement
# and one round trip: its own (implicit) transaction, taking the chain's lock only if it is
# free; when the belief was wrong it inserts nothing and returns the head it saw instead. Why
# this can neither fork nor gap a chain, nor break the locked path:
# - it inserts only if the chain's last entry in the statement's snapshot is the one the batch
#   links to, (seq, hash) (or, for seq 0, the chain is empty). Entries are never updated or
#   deleted (the append-only trigger), so that entry is still there, with that hash, when the
#   rows go in; a believed head of a rolled-back transaction, of a cut tail or of another
#   database inserts nothing and so cannot leave a gap;
# - seqs of a chain are gapless (every append goes after an existing entry), so "seq + 1 is
#   free" is "seq is the head": the unique (chain, seq) makes the statement fail as a whole
#   (UniqueViolation) if another writer took seq + 1 after the snapshot, committed or still in
#   flight. The new entries therefore link to the real previous entry;
# - it inserts only while holding the chain's advisory lock, as the locked path does, so a
#   locked append (which reads the head once it has the lock) is never overtaken between its
#   read and its insert: a write inside a domain transaction never fails on the unique (chain,
#   seq). It never waits for the lock: if another append holds it, nothing is inserted;
# - the conditions are uncorrelated subqueries, evaluated once (a one-time filter), so the
#   batch goes in whole or not at all.
_APPEND_AFTER = """
WITH head AS (SELECT seq, hash FROM audit_entry WHERE chain = {} ORDER BY seq DESC LIMIT 1),
appended AS (
    INSERT INTO audit_entry
        (chain, seq, at, actor, actor_role, action, subject, community, ip, detail, prev_hash, hash)
    SELECT {}, seq, at, actor, actor_role, action, subject, community, ip, detail, prev_hash, hash
    FROM json_to_recordset({}::json)
        AS new (seq bigint, at timestamptz, actor integer, actor_role text, action text, subject text,
                community integer, ip text, detail json, prev_hash text, hash text)
    WHERE (SELECT pg_try_advisory_xact_lock({}, {}))
      AND (SELECT COALESCE(MAX(seq), 0) FROM head) = {}
      AND (SELECT COALESCE(MAX(hash), {}) FROM head) = {}
    RETURNING seq
)
SELECT (SELECT count(*) FROM appended) AS appended, (SELECT seq FROM head), (SELECT hash FROM head)
"""
# Straight through asyncpg, which prepares it once per connection, and with the batch as one
# JSON document: binding a column array per field made asyncpg check every value's type
# through the abstract base classes, most of an append's CPU.
_APPEND_AFTER_STATEMENT = placeholders(_APPEND_AFTER, postgres=True)
_ONE_STATEMENT_TRIES = 3  # then the locked path, which waits for its turn


class _Appended(msgspec.Struct, frozen=True):
    rows: list[dict[str, Any]] | None  # None: nothing was inserted
    head: tuple[int, str] | None = None  # then, the head the statement saw, if it got that far


async def _append_after(chain: int, contents: list[dict[str, Any]], seq: int, prev: str) -> _Appended:
    """Append after the entry (seq, prev) if it is the chain's head and no append is under way."""
    rows = _linked(contents, seq, prev, _chain_key())
    batch = msgspec.json.encode(rows).decode()  # a row's other keys are not columns of the record set
    values = (chain, chain, batch, _ADVISORY_LOCK, chain, seq, GENESIS, prev)
    try:
        async with postgres_connection(AuditEntry._meta.db) as connection:
            outcome = await connection.fetchrow(_APPEND_AFTER_STATEMENT, *values)
    except UniqueViolationError:  # another writer appended after that entry since the snapshot
        return _Appended(rows=None)
    if outcome["appended"]:
        return _Appended(rows=rows)
    return _Appended(rows=None, head=(outcome["seq"] or 0, outcome["hash"] or GENESIS))


@timed(AUDIT_APPEND_SECONDS)  # the whole append, however many attempts it took
async def _append_reads(chain: int, contents: list[dict[str, Any]]) -> None:
    """A read batch of one chain: in one statement after the head it believes, else under the lock.

    On PostgreSQL the common case is one round trip instead of a locked transaction's five; a
    wrong belief costs one more (the statement returns the head it saw). SQLite has one writer
    at a time anyway and keeps the locked path.
    """
    known = _known_heads_of(AuditEntry._meta.db)
    head, rows = known.get(chain, (0, GENESIS)), None
    for _ in range(_ONE_STATEMENT_TRIES if is_postgres(AuditEntry._meta.db) else 0):
        appended = await _append_after(chain, contents, *head)
        if appended.rows or appended.head is None:
            rows = appended.rows
            break
        head = appended.head
    if rows is None:
        rows = await _append(contents)
    known[chain] = (rows[-1]["seq"], rows[-1]["hash"])  # committed: the statement or transaction has ended


async def _head(chain: int) -> tuple[int, str]:
    """The chain's length and last hash (an index lookup on the chain's unique (chain, seq))."""
    head = (
        await AuditEntry.select(AuditEntry.seq, AuditEntry.hash)
        .where(AuditEntry.chain == chain)
        .order_by(AuditEntry.seq, ascending=False)
        .first()
    )
    return (head["seq"], head["hash"]) if head else (0, GENESIS)


@timed(AUDIT_APPEND_SECONDS)
async def record(who: Principal | None, action: str, subject: str, **context: Any) -> None:
    """Audit a write: joins the caller's transaction, so the write and its entry commit together.

    ``context`` is :func:`entry`'s keywords: community, ip, detail. Holds the community's chain
    lock until the caller's transaction ends; other communities' appends go on meanwhile. A
    transaction that records into several chains must do so in ascending chain order (as
    ``_append`` does), or two of them could deadlock on PostgreSQL; today each records into one.
    """
    await _append([entry(who, action, subject, **context)])


async def record_read(who: Principal | None, action: str, subject: str, **context: Any) -> None:
    """Audit a read of personal data; returns once the entry is durable.

    Reads are the hot path (every staff scan), so concurrent ones to the same chain share one
    append (group commit) instead of queueing on the chain's lock one by one; each chain has
    its own group, so one community's reads never wait for another's.
    """
    content = entry(who, action, subject, **context)
    await _group_commit(content["chain"]).submit(content)


class _GroupCommit:
    def __init__(self, chain: int) -> None:
        self._chain = chain
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
                await _append_reads(self._chain, [content for content, _ in batch])
            except Exception as exc:  # every waiter learns its entry was not written
                for _, done in batch:
                    done.set_exception(exc)
            else:
                for _, done in batch:
                    done.set_result(None)


_group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _GroupCommit]] = (
    weakref.WeakKeyDictionary()
)


def _group_commit(chain: int) -> _GroupCommit:
    loop = asyncio.get_running_loop()
    if (per_chain := _group_commits.get(loop)) is None:
        per_chain = _group_commits[loop] = {}
    if (group := per_chain.get(chain)) is None:
        group = per_chain[chain] = _GroupCommit(chain)
    return group


async def verify_chain(
    chain: int = DISTRICT_CHAIN, want: frozenset[int] = frozenset(), batch: int = 5000
) -> ChainReport:
    """Recompute a chain's keyed hashes in order; report the first entry edited, removed, reordered,
    re-hashed or moved in from another chain.

    ``want``: seqs whose (verified) hashes the report should carry in ``seen``.
    """
    key, prev, checked, after, seen = _chain_key(), GENESIS, 0, 0, {}
    while True:
        rows = (
            await AuditEntry.select()
            .where((AuditEntry.chain == chain) & (AuditEntry.seq > after))
            .order_by(AuditEntry.seq)
            .limit(batch)
        )
        if not rows:
            return ChainReport(checked=checked, broken_at=None, head=prev, seen=seen, chain=chain)
        for row in rows:
            if row["prev_hash"] != prev or entry_hash(row, key) != row["hash"] or row["seq"] != checked + 1:
                return ChainReport(checked=checked, broken_at=row["seq"], head=prev, seen=seen, chain=chain)
            prev, checked = row["hash"], checked + 1
            if checked in want:
                seen[checked] = prev
        after = rows[-1]["seq"]


async def verify(ctx: Context) -> AuditReport:
    """Every chain, and every validly signed checkpoint against it; then checkpoint the verified heads.

    A checkpointed entry that is missing means that chain's tail was cut (a chain missing
    altogether, that it was deleted); one with another hash means the chain was rewritten past
    it; a line without a valid signature was forged.
    """
    directory, key = ctx.settings.checkpoint_dir, ctx.keys.audit_checkpoint_key
    kept = await asyncio.to_thread(checkpoints.read, directory, key)
    reports = {}
    for chain in sorted(set(await chains()) | {c for kept_one in kept.valid for c in kept_one.heads}):
        wanted = frozenset(c.heads[chain].seq for c in kept.valid if chain in c.heads)
        reports[chain] = await verify_chain(chain, wanted)
    problems = [
        f"{checkpoints.chain_name(c.chain)} BROKEN at entry {c.broken_at} (after {c.checked} good entries)"
        for c in reports.values()
        if not c.intact
    ]
    problems += [
        f"checkpoint line {line} of {checkpoints.path_in(directory)} has no valid signature (forged or corrupted)"
        for line in kept.unsigned_lines
    ]
    problems += filter(None, (_first_disagreement(report, kept.valid) for report in reports.values()))
    report = AuditReport(chains=reports, checkpoint=kept.valid[-1] if kept.valid else None, problems=problems)
    if not report.ok:
        return report
    heads = {c.chain: checkpoints.Head(c.checked, c.head) for c in reports.values() if c.checked}
    with contextlib.suppress(checkpoints.GoingBackwards):  # the schedule checkpointed newer heads meanwhile
        written = await asyncio.to_thread(checkpoints.append, directory, key, heads)
        report = msgspec.structs.replace(report, written=written)
    return report


async def chains() -> list[int]:
    """Every chain that has an entry."""
    return [row["chain"] for row in await AuditEntry.select(AuditEntry.chain).distinct()]


def _first_disagreement(chain: ChainReport, valid: list[Checkpoint]) -> str | None:
    """The first checkpoint of this chain it disagrees with (later ones follow from the first)."""
    for checkpoint in valid:
        head = checkpoint.heads.get(chain.chain)
        if head is None or head.seq == 0 or (not chain.intact and head.seq >= chain.broken_at):
            continue  # nothing to compare, or already reported as the break
        if head.seq not in chain.seen:
            return (
                f"tail cut: checkpoint ({checkpoint.label_of(chain.chain)}) "
                f"but the chain ends at entry {chain.checked}"
            )
        if chain.seen[head.seq] != head.hash:
            return f"chain rewritten: checkpoint ({checkpoint.label_of(chain.chain)}) but that entry's hash differs"
    return None


async def checkpoint(ctx: Context) -> Checkpoint | None:
    """Checkpoint every chain's head if one moved (the app's schedule); never one behind the last."""
    try:
        return await asyncio.to_thread(
            checkpoints.append, ctx.settings.checkpoint_dir, ctx.keys.audit_checkpoint_key, await _heads()
        )
    except checkpoints.GoingBackwards as exc:
        log.error("audit checkpoint refused, a chain may have been cut: %s; run `anju audit`", exc)
        return None


async def _heads() -> dict[int, checkpoints.Head]:
    """Every chain's last entry: one index range per chain on the unique (chain, seq)."""
    rows = await AuditEntry.raw(
        "SELECT a.chain, a.seq, a.hash FROM audit_entry a JOIN"
        " (SELECT chain, MAX(seq) AS seq FROM audit_entry GROUP BY chain) last"
        " ON a.chain = last.chain AND a.seq = last.seq"
    )
    return {row["chain"]: checkpoints.Head(row["seq"], row["hash"]) for row in rows}


@contextlib.asynccontextmanager
async def trail(ctx: Context) -> AsyncIterator[None]:
    """The app's audit trail: chain with this deployment's key; checkpoint the heads on a schedule."""
    use_keys(ctx.keys)
    async with in_background(_checkpoint_every(ctx, ctx.settings.audit_checkpoint_minutes * 60), "audit"):
        yield


async def _checkpoint_every(ctx: Context, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await checkpoint(ctx)
        except Exception:  # a passing database or disk error must not end the schedule
            log.exception("audit checkpoint failed; retrying in %s s", seconds)
