"""The uplink outbox: a standard record owed to the police platform is a row written with its source.

:func:`enqueue` is the one way in, for every mapping (``mappings.py``)::

    async with device_bridge.store.writer(engine) as writer:      # or the domain's own writer
        ...                                                        # write the source record
        await enqueue(writer, keys, "emergency_alarm", f"alarm:{alarm_id}", community, row)

It checks the row against the standard (``standard.check``) and inserts one ``uplink_record``:
``pending`` when it fits, ``rejected`` with its problems when it does not (never sent half-filled).
One row per (table, record): its key ``{table}/{record}`` is the idempotency key sent with it, and
enqueueing the same record again is a no-op. The sender (``sender.py``) is woken after the commit;
a rolled-back source record owes nothing, a committed one is sent even if this process dies.

Each row is owed to one ``target``: ``platform`` (the city's data standard, sent over HTTP or
MQTT as ``ANJU_UPLINK_URL`` says) or ``viid`` (GA/T 1400 objects, ``viid.py``: already in the
视图库's shape, checked by the 视图库's answer rather than the standard). A non-platform row's key
carries its target (``viid:Faces/face_passage:12``), so keys stay unique across targets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from backend.instruments import UPLINK_RECORDS
from backend.keys import Keys
from backend.live import wakeup
from backend.uplink import standard
from device_bridge.store import Writer

SHANGHAI = ZoneInfo("Asia/Shanghai")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
PENDING, SENT, REJECTED = "pending", "sent", "rejected"
STATES = (PENDING, SENT, REJECTED)
PLATFORM, VIID = "platform", "viid"
TARGETS = (PLATFORM, VIID)

INSERT = (
    "INSERT INTO uplink_record (key, target, table_key, record_key, community, payload, state, problems, "
    "attempts, created_at, due_at, sent_at, failed_at, last_error) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 0, {}, {}, NULL, {}, {}) ON CONFLICT (key) DO NOTHING RETURNING id"
)


def idempotency_key(table_key: str, record_key: str, target: str = PLATFORM) -> str:
    key = f"{table_key}/{record_key}"
    return key if target == PLATFORM else f"{target}:{key}"


def payload(table_key: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as sent: DATEs as ``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai, NUMBERs as JSON numbers,
    text (BLOB references included) as it is; absent values left out."""
    table = standard.tables()[table_key]
    out: dict[str, Any] = {}
    for field in table.fields:
        value = row.get(field.name)
        if value is None or value == "":
            continue
        if isinstance(value, dt.datetime):
            value = value.astimezone(SHANGHAI).strftime(DATE_FORMAT)
        elif isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        out[field.name] = value
    return out


async def enqueue(
    writer: Writer,
    keys: Keys,
    table_key: str,
    record_key: str,
    community: int,
    row: Mapping[str, Any],
    target: str = PLATFORM,
) -> str | None:
    """Owe ``row`` (carried name → value) of ``table_key`` to ``target``, in ``writer``'s transaction.

    Returns its state (``pending`` or ``rejected``), or None when this record was enqueued before.
    """
    now = writer.at(dt.datetime.now(dt.UTC))
    state, values = _owed(keys, target, table_key, record_key, community, row, now)
    inserted = await writer.fetch(INSERT, *values)
    if not inserted:
        return None
    if state == PENDING:
        wakeup.after_commit(writer)
    else:

        async def counted() -> None:
            UPLINK_RECORDS.labels(table_key, "rejected").inc()

        writer.after_commit(counted)
    return state


UNBUILT = "{}"  # the payload of a row owed by reference, until the sender builds it


async def owe_by_reference(writer: Writer, table_key: str, records: list[tuple[str, int]]) -> None:
    """Owe ``(record_key, community)`` records of ``table_key`` without their rows: the sender builds
    each row from its record when it sends it (``builders.py``), and rejects it then if it fails
    the standard. Records owed before are skipped.

    For the bridge's hot path, where building every row as it was stored cost a sixth of the ingest
    rate (bench/ingest.py); and the outbox keeps no copy of the records' personal data.
    """
    if not records:
        return
    now = writer.at(dt.datetime.now(dt.UTC))
    values = [
        (
            idempotency_key(table_key, key),
            PLATFORM,
            table_key,
            key,
            community,
            UNBUILT,
            PENDING,
            "[]",
            now,
            now,
            None,
            "",
        )
        for key, community in records
    ]
    await writer.many(INSERT.removesuffix(" RETURNING id"), values)
    wakeup.after_commit(writer)


async def enqueue_many(
    writer: Writer,
    keys: Keys,
    table_key: str,
    records: list[tuple[str, int, Mapping[str, Any]]],
    target: str = PLATFORM,
) -> dict[str, int]:
    """:func:`enqueue` for a batch of ``(record_key, community, row)`` in one statement (the
    bridge's hot path); records enqueued before are skipped. Counts by state."""
    if not records:
        return {}
    now = writer.at(dt.datetime.now(dt.UTC))
    values, counts = [], {PENDING: 0, REJECTED: 0}
    for record_key, community, row in records:
        state, owed = _owed(keys, target, table_key, record_key, community, row, now)
        counts[state] += 1
        values.append(owed)
    await writer.many(INSERT.removesuffix(" RETURNING id"), values)
    if counts[PENDING]:
        wakeup.after_commit(writer)
    if rejected := counts[REJECTED]:

        async def counted() -> None:
            UPLINK_RECORDS.labels(table_key, "rejected").inc(rejected)

        writer.after_commit(counted)
    return counts


def _owed(
    keys: Keys,
    target: str,
    table_key: str,
    record_key: str,
    community: int,
    row: Mapping[str, Any],
    now: Any,
) -> tuple[str, tuple]:
    """The row's state and its INSERT values: checked against the standard (a platform row), the
    fields sent kept sealed."""
    platform = target == PLATFORM
    problems = standard.check(table_key, row) if platform else []
    state = REJECTED if problems else PENDING
    why = summary(problems)
    values = (
        idempotency_key(table_key, record_key, target),
        target,
        table_key,
        record_key,
        community,
        _sealed(keys, payload(table_key, row) if platform else dict(row)),
        state,
        _json(problems),
        now,
        now,
        now if problems else None,
        why,
    )
    return state, values


def summary(problems: list[standard.Problem]) -> str:
    """A refused row's reason (its ``last_error``): each problem's field and reason."""
    return "; ".join(f"{p.field}: {p.reason}" for p in problems)[:300]


def _sealed(keys: Keys, body: dict[str, Any]) -> str:
    """The row as kept until it is sent: sealed like ID numbers (it carries names, ID numbers and
    phones), a JSON string in the payload column; the sender opens it (``sender.opened``)."""
    return _json(keys.seal(_json(body)))


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()
