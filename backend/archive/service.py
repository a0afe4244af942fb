"""Retention: each whole month of a record type older than its retention goes to a compressed,
checksummed file under {var_dir}/archive/<type>/, then leaves the live tables; a restore brings it back.

A file is ``<YYYY-MM>.jsonl.gz``: one line per archived row (its dependents in the same line), ordered
by id, canonical JSON, gzip without a timestamp, so the same rows always give the same bytes;
``<YYYY-MM>.sha256`` beside it in ``sha256sum`` format. Values are kept exactly as the database
stores them: SQLite's stored values, PostgreSQL's text form of each column (in UTC), so a restored
row is the row that was archived, byte for byte, sealed columns still sealed.

Nothing is lost if a run dies: the file is written under a temporary name, read back and checked,
renamed, and only then are its rows deleted, in one transaction. A month archived again (rows that
arrived late, a run that died before its delete, a month restored and released) is merged with its
file: each row once.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from backend.archive.kinds import RECORD_TYPES, RecordType
from backend.db import is_postgres, placeholders, transaction
from backend.errors import Conflict, Invalid, NotFound
from backend.settings import Settings
from backend.video.live import try_lock

LOCAL = ZoneInfo("Asia/Shanghai")  # a month is Wuhan's calendar month
PAGE = 1000  # rows read per query while archiving
CHUNK = 200  # ids per DELETE … IN (…), rows per INSERT when restoring
MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# PostgreSQL writes each value as text in one fixed form, whatever the session's settings.
PG_TEXT_FORM = (
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL bytea_output = 'hex'",
)

Say = Callable[[str], None]
log = logging.getLogger("anju.archive")


@dataclass(frozen=True)
class Archived:
    record_type: str
    month: str
    records: int  # lines in the file now
    removed: int  # live rows deleted by this run (dependents included)
    sha256: str


@dataclass(frozen=True)
class Restored:
    record_type: str
    month: str
    inserted: int  # rows put back (dependents included)
    present: int  # rows that were live already


@dataclass(frozen=True)
class Listed:
    record_type: str
    month: str
    records: int
    sha256: str
    intact: bool  # the file matches its checksum
    held: bool  # restored for an investigation: not archived again until released


def record_type(name: str) -> RecordType:
    if name not in RECORD_TYPES:
        raise Invalid("unknown_type", f"no record type {name!r}; one of {', '.join(RECORD_TYPES)}")
    return RECORD_TYPES[name]


def month_of(text: str) -> str:
    if not MONTH.fullmatch(text):
        raise Invalid("bad_month", f"expected a month YYYY-MM, got {text!r}")
    return text


def bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in UTC."""
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=LOCAL)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=LOCAL)
    return start.astimezone(UTC), end.astimezone(UTC)


class Files:
    """One month's archive of one record type: the data, its checksum, and the investigation hold."""

    def __init__(self, settings: Settings, kind: RecordType, month: str) -> None:
        folder = settings.archive_dir / kind.name
        self.data = folder / f"{month}.jsonl.gz"
        self.sums = folder / f"{month}.sha256"
        self.hold = folder / f"{month}.hold"

    def checksum(self) -> str:
        return hashlib.sha256(self.data.read_bytes()).hexdigest()

    def recorded(self) -> str:
        return self.sums.read_text().split(" ", 1)[0] if self.sums.exists() else ""

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(id, line) of each archived row, after checking the file against its checksum."""
        if self.checksum() != self.recorded():
            raise Conflict(
                "archive_tampered",
                f"{self.data} does not match {self.sums.name}: it was changed (or a run stopped "
                "between writing the two); nothing was done with it",
            )
        return _read(self.data)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Writer]:
        """A writer of the new file under a temporary name; ``seal`` puts it in place."""
        self.data.parent.mkdir(parents=True, exist_ok=True)
        with self.temporary.open("wb") as raw:
            writer = Writer(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0))
            with writer.out:
                yield writer
            raw.flush()
            os.fsync(raw.fileno())

    @property
    def temporary(self) -> Path:
        return self.data.with_name(self.data.name + ".tmp")

    def seal(self, writer: Writer, archived_ids: set[int]) -> str:
        """Read the temporary file back: the same lines, every archived row in it; then rename it
        and write its checksum. Raises (and the caller deletes nothing) if anything differs."""
        content, found = hashlib.sha256(), set()
        for row_id, line in _read(self.temporary):
            content.update(line)
            found.add(row_id)
        if content.digest() != writer.content.digest() or not archived_ids <= found:
            raise Conflict(
                "archive_unreadable", f"{self.temporary} does not read back as written; nothing deleted"
            )
        digest = hashlib.sha256(self.temporary.read_bytes()).hexdigest()
        sums = self.sums.with_name(self.sums.name + ".tmp")
        sums.write_text(f"{digest}  {self.data.name}\n")
        self.temporary.replace(self.data)
        sums.replace(self.sums)
        return digest


class Writer:
    def __init__(self, out: gzip.GzipFile) -> None:
        self.out, self.content, self.lines = out, hashlib.sha256(), 0

    def write(self, line: bytes) -> None:
        self.out.write(line)
        self.content.update(line)
        self.lines += 1


def _read(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each line with its row id, checking the ids rise (the file's order is by id)."""
    last = 0
    with gzip.open(path, "rb") as lines:
        for line in lines:
            row_id = _line_id(line)
            if row_id <= last:
                raise Conflict("archive_disordered", f"{path}: row {row_id} after {last}")
            last = row_id
            yield row_id, line


def _line_id(line: bytes) -> int:
    record = json.loads(line)
    return int(record["row"]["id"])


def canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


# --- reading and writing rows, as stored ---------------------------------------------------------


class Rows:
    """Rows of the database as it stores them, and back; one per engine and table set."""

    def __init__(self, kind: RecordType) -> None:
        self.kind = kind
        self.engine = kind.table._meta.db
        self.postgres = is_postgres(self.engine)
        self.columns: dict[str, dict[str, str]] = {}  # table → column → PostgreSQL type

    @property
    def tables(self) -> list[str]:
        return [self.kind.tablename] + [d.table._meta.tablename for d in self.kind.dependents]

    async def raw(self, sql: str, *args):
        return await self.kind.table.raw(sql, *args)

    async def load_columns(self) -> None:
        for table in self.tables:
            if self.postgres:
                found = await self.raw(
                    "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
                    "WHERE attrelid = CAST({}::text AS regclass) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    table,
                )
            else:
                found = await self.raw(f"SELECT name, type FROM pragma_table_info('{table}')")
            self.columns[table] = {row["name"]: row["type"] for row in found}

    @contextlib.asynccontextmanager
    async def reading(self):
        async with self.engine.transaction():
            if self.postgres:
                for statement in PG_TEXT_FORM:
                    await self.raw(statement)
            yield

    def select(self, table: str) -> str:
        """Each column as stored: PostgreSQL's text; SQLite's value untouched by Piccolo's converters
        (unary + keeps the value and drops the declared type they go by)."""
        form = '"{0}"::text AS "{0}"' if self.postgres else '+"{0}" AS "{0}"'
        return f'SELECT {", ".join(form.format(c) for c in self.columns[table])} FROM "{table}"'

    async def months_oldest(self) -> datetime | None:
        kind = self.kind
        done = f" WHERE {kind.done}" if kind.done else ""
        found = await self.raw(f'SELECT MIN("{kind.time}") AS oldest FROM "{kind.tablename}"{done}')
        oldest = found[0]["oldest"]
        return datetime.fromisoformat(oldest) if isinstance(oldest, str) else oldest

    async def records(self, month: str) -> AsyncIterator[tuple[int, bytes, dict[str, list[int]]]]:
        """The month's live rows in id order: (id, line, ids per table in the line)."""
        kind = self.kind
        start, end = bounds(month)
        done = f" AND {kind.done}" if kind.done else ""
        after = 0
        while True:
            async with self.reading():
                page = await self.raw(
                    f'{self.select(kind.tablename)} WHERE "{kind.time}" >= {{}} AND "{kind.time}" < {{}}'
                    f"{done} AND id > {{}} ORDER BY id LIMIT {PAGE}",
                    start,
                    end,
                    after,
                )
                dependents = await self._dependents([int(row["id"]) for row in page])
            for row in page:
                row_id = int(row["id"])
                record = {"row": row, **{t: rows.get(row_id, []) for t, rows in dependents.items()}}
                ids = {kind.tablename: [row_id]}
                ids |= {t: [int(r["id"]) for r in rows.get(row_id, [])] for t, rows in dependents.items()}
                yield row_id, canonical(record), ids
            if len(page) < PAGE:
                return
            after = int(page[-1]["id"])

    async def _dependents(self, ids: list[int]) -> dict[str, dict[int, list[dict]]]:
        found: dict[str, dict[int, list[dict]]] = {}
        for dependent in self.kind.dependents:
            table = dependent.table._meta.tablename
            found[table] = {}
            for chunk in _chunks(ids):
                rows = await self.raw(
                    f'{self.select(table)} WHERE "{dependent.column}" IN ({placeholders(chunk)}) ORDER BY id',
                    *chunk,
                )
                for row in rows:
                    found[table].setdefault(int(row[dependent.column]), []).append(row)
        return found

    async def delete(self, ids: dict[str, set[int]]) -> int:
        """Delete exactly the archived rows, dependents first, in one transaction; refuse (and delete
        nothing) if a dependent was added to an archived row meanwhile."""
        kind = self.kind
        async with transaction(self.engine):
            for dependent in kind.dependents:
                table = dependent.table._meta.tablename
                await self._delete_ids(table, ids.get(table, set()))
                for chunk in _chunks(sorted(ids[kind.tablename])):
                    left = await self.raw(
                        f'SELECT COUNT(*) AS n FROM "{table}" WHERE "{dependent.column}" IN ({placeholders(chunk)})',
                        *chunk,
                    )
                    if left[0]["n"]:
                        raise Conflict(
                            "archive_changed",
                            f"{table} rows were added to archived {kind.tablename} rows; nothing deleted",
                        )
            await self._delete_ids(kind.tablename, ids[kind.tablename])
        return sum(len(v) for v in ids.values())

    async def _delete_ids(self, table: str, ids: set[int]) -> None:
        for chunk in _chunks(sorted(ids)):
            await self.raw(f'DELETE FROM "{table}" WHERE id IN ({placeholders(chunk)})', *chunk)

    async def insert(self, table: str, rows: list[dict]) -> int:
        """Put back the rows not live already; returns how many were inserted."""
        ids = [int(row["id"]) for row in rows]
        present = {
            int(row["id"])
            for row in await self.raw(f'SELECT id FROM "{table}" WHERE id IN ({placeholders(ids)})', *ids)
        }
        missing = [row for row in rows if int(row["id"]) not in present]
        if not missing:
            return 0
        columns = list(self.columns[table])
        if self.postgres:
            types = self.columns[table]
            value = "(" + ", ".join(f"CAST({{}}::text AS {types[c]})" for c in columns) + ")"
        else:
            value = "(" + ", ".join("{}" for _ in columns) + ")"
        names = ", ".join(f'"{c}"' for c in columns)
        await self.raw(
            f'INSERT INTO "{table}" ({names}) VALUES {", ".join(value for _ in missing)}',
            *(row[c] for row in missing for c in columns),
        )
        return len(missing)


def _chunks(values: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


# --- archiving -----------------------------------------------------------------------------------


def due_months(oldest: datetime | None, days: int, now: datetime) -> list[str]:
    """Whole months from the oldest row's up to the last one that ended ``days`` ago."""
    if oldest is None:
        return []
    cutoff = now - timedelta(days=days)
    local = oldest.astimezone(LOCAL)
    month = f"{local.year:04d}-{local.month:02d}"
    months = []
    while bounds(month)[1] <= cutoff:
        months.append(month)
        end = bounds(month)[1].astimezone(LOCAL)
        month = f"{end.year:04d}-{end.month:02d}"
    return months


async def run(
    settings: Settings, only: str | None = None, say: Say = print, step: Say | None = None
) -> list[Archived]:
    """Archive every month due, of every record type (or ``only`` one); one run at a time per host."""
    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    lock = try_lock(settings.archive_dir / ".lock")
    if lock is None:
        raise Conflict("archive_running", "another archive run holds the lock; try again when it is done")
    try:
        kinds = [record_type(only)] if only else list(RECORD_TYPES.values())
        done = []
        for kind in kinds:
            done += await _run_type(settings, kind, say, step)
        return done
    finally:
        os.close(lock)


async def periodic(settings: Settings) -> None:
    """The bridge's run, every archive_every_hours: one per host (the lock); a refusal (another run,
    a file that no longer matches its checksum) is logged for the operator and retried next time."""
    try:
        await run(settings, say=log.info)
    except Conflict as exc:
        log.warning("archive: %s", exc.message)


async def _run_type(settings: Settings, kind: RecordType, say: Say, step: Say | None) -> list[Archived]:
    rows = Rows(kind)
    await rows.load_columns()
    days = settings.retention_days(kind.name)
    done = []
    for month in due_months(await rows.months_oldest(), days, datetime.now(UTC)):
        files = Files(settings, kind, month)
        if files.hold.exists():
            say(f"{kind.name} {month}: held for an investigation (anju archive release), left live")
            continue
        archived = await archive_month(rows, files, month, step)
        if archived is not None:
            say(
                f"{kind.name} {month}: {archived.removed} rows archived to {files.data} "
                f"({archived.records} records, sha256 {archived.sha256[:16]}…) and removed from the live tables"
            )
            done.append(archived)
    return done


async def archive_month(rows: Rows, files: Files, month: str, step: Say | None = None) -> Archived | None:
    """Merge the month's live rows into its file (each row once, the live one winning), check the
    file, then delete those rows. None: no live rows in that month."""
    live = rows.records(month)
    first = await anext(live, None)
    if first is None:  # an archived month with nothing new: its file is not even opened
        return None
    ids: dict[str, set[int]] = {}
    table = rows.kind.tablename
    old = files.lines() if files.data.exists() else iter(())
    pending = next(old, None)
    with files.writing() as writer:
        async for row_id, line, by_table in _chain(first, live):
            while pending is not None and pending[0] < row_id:
                writer.write(pending[1])
                pending = next(old, None)
            if pending is not None and pending[0] == row_id:
                pending = next(old, None)
            writer.write(line)
            for name, table_ids in by_table.items():
                ids.setdefault(name, set()).update(table_ids)
            if step is not None and len(ids[table]) % PAGE == 0:
                step(f"{rows.kind.name} {month}: {len(ids[table])} rows read")
        while pending is not None:
            writer.write(pending[1])
            pending = next(old, None)
    digest = files.seal(writer, ids[table])
    removed = await rows.delete(ids)
    return Archived(rows.kind.name, month, writer.lines, removed, digest)


async def _chain(first, rest: AsyncIterator) -> AsyncIterator:
    yield first
    async for item in rest:
        yield item


# --- restoring and listing -----------------------------------------------------------------------


async def restore(settings: Settings, name: str, month: str) -> Restored:
    """Put an archived month back into the live tables (rows present already are left as they are)
    and hold it there for the investigation: runs leave it live until it is released."""
    kind, month = record_type(name), month_of(month)
    files = Files(settings, kind, month)
    if not files.data.exists():
        raise NotFound("no_archive", f"no archive of {kind.name} for {month} in {files.data.parent}")
    lines = files.lines()  # refuses a file that does not match its checksum, before any insert
    rows = Rows(kind)
    await rows.load_columns()
    inserted = total = 0
    held = files.hold.exists()
    files.hold.touch()  # before the insert: a run starting now must not archive the month again
    try:
        async with transaction(rows.engine):
            while batch := [json.loads(line) for _, line in _take(lines, CHUNK)]:
                for table in rows.tables:
                    put = (
                        [r["row"] for r in batch]
                        if table == kind.tablename
                        else [d for r in batch for d in r[table]]
                    )
                    total += len(put)
                    inserted += await rows.insert(table, put) if put else 0
    except BaseException:
        if not held:
            files.hold.unlink()
        raise
    return Restored(kind.name, month, inserted, total - inserted)


def _take(lines: Iterator, count: int) -> Iterator:
    for _ in range(count):
        item = next(lines, None)
        if item is None:
            return
        yield item


def release(settings: Settings, name: str, month: str) -> bool:
    """Let runs archive a restored month again (the same rows give the same file); False: not held."""
    files = Files(settings, record_type(name), month_of(month))
    if not files.hold.exists():
        return False
    files.hold.unlink()
    return True


def listing(settings: Settings) -> list[Listed]:
    found = []
    for kind in RECORD_TYPES.values():
        for data in sorted((settings.archive_dir / kind.name).glob("*.jsonl.gz")):
            month = data.name.removesuffix(".jsonl.gz")
            files = Files(settings, kind, month)
            digest = files.checksum()
            intact = digest == files.recorded()
            records = sum(1 for _ in _read(data)) if intact else 0
            found.append(Listed(kind.name, month, records, digest, intact, files.hold.exists()))
    return found
