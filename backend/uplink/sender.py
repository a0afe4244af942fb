"""The uplink sender: due outbox rows, in batches, to their target, signed.

Each app process runs one :class:`Sender` per configured target (:func:`senders`): the platform
(``ANJU_UPLINK_URL``, over HTTP or MQTT, ``transports.py``) and the 视图库 (``ANJU_VIID_URL``,
``viid.py``); each claims only its target's rows. Like the push worker
(``backend/live/push.py``) it claims due ``uplink_record`` rows atomically — PostgreSQL
``FOR UPDATE SKIP LOCKED``, SQLite's single writer — leasing them for ``LEASE`` so that no other
process or host sends them meanwhile, sends them (one request or message per table), and records the
outcome in one transaction: ``sent``, ``rejected`` with the target's reason, or due again after a
backoff (doubling from ``ANJU_UPLINK_RETRY_SECONDS`` up to ``ANJU_UPLINK_RETRY_MAX_SECONDS``, with
jitter). Retries never end: an outage of hours loses nothing. The first answer after an outage
(a new record, or the first retry that gets through) makes every waiting row due at once, so the
backlog drains at full speed instead of each row at its own next retry.

Delivery is at least once: a process that dies between the target's 2xx and the commit of
``sent`` leaves the rows leased, and they are sent again when the lease ends, with the same
idempotency keys. The target drops a key it has applied before, so each record is applied once.
Once ``sent`` is committed a row is never sent again.

The HTTP request (the MQTT message carries the same body, ``transports.py``)::

    POST ANJU_UPLINK_URL
    X-Anju-Timestamp: <unix seconds>
    X-Anju-Signature: hex(hmac-sha256(ANJU_UPLINK_SECRET, timestamp + "." + body))
    {"table": "emergency_alarm", "records": [{"key": "emergency_alarm/alarm:12", "row": {...}}]}

The answer: 2xx with ``{"accepted": [keys], "rejected": {key: reason}}`` (a key in neither, or a
2xx without that body: accepted); 408, 429, 401, 403, 404 and 5xx, a timeout or no connection:
the batch is retried (a wrong secret or URL is a configuration fault to fix, not the records');
another 4xx: its ``rejected`` keys are rejected with their reasons and the others with the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import msgspec
from piccolo.engine.base import Engine

from backend.db import TRANSIENT
from backend.instruments import UPLINK_RECORDS
from backend.keys import Keys
from backend.live.wakeup import Wakeup, wait
from backend.settings import Settings
from backend.uplink import standard
from backend.uplink.mappings import BUILT_WHEN_SENT
from backend.uplink.outbox import PENDING, PLATFORM, REJECTED, SENT, UNBUILT, VIID, payload, summary
from backend.uplink.tables import UplinkRecord
from backend.uplink.transports import Due, HttpTransport, MqttTransport, Outcome, Transport
from backend.uplink.viid import ViidTransport
from device_bridge import store
from device_bridge.retry import RETRY_FIRST, backoff

log = logging.getLogger("anju.uplink")
LEASE = timedelta(seconds=120)  # far beyond a batch's request (ANJU_UPLINK_TIMEOUT_SECONDS)

CLAIM_HEAD = (
    "UPDATE uplink_record SET claimed_until = {}, attempts = attempts + 1 WHERE id IN ("
    "SELECT id FROM uplink_record WHERE target = {} AND state = 'pending' AND due_at <= {} "
    "AND (claimed_until IS NULL OR claimed_until <= {}) ORDER BY due_at, id LIMIT {}"
)
CLAIM_TAIL = ") RETURNING id, key, table_key, record_key, payload, attempts"
# Read first, claim only when something is due: on SQLite a claim takes the one write lock.
NEXT_DUE = (
    "SELECT MIN(CASE WHEN claimed_until > due_at THEN claimed_until ELSE due_at END) AS due "
    "FROM uplink_record WHERE target = {} AND state = 'pending'"
)
# A sent row keeps its key and times, not its (personal) data: the platform has it now.
FINISH = (
    "UPDATE uplink_record SET state = {}, due_at = {}, claimed_until = NULL, sent_at = {}, failed_at = {}, "
    "last_error = {}, payload = CASE WHEN {} THEN {} ELSE payload END "
    "WHERE id = {} AND state = 'pending'"
)
EMPTY = "{}"
PROBLEMS = "UPDATE uplink_record SET problems = {} WHERE id = {}"
# The target accepted records: whatever waits for its next retry is due now (not the leased rows).
PULL_FORWARD = (
    "UPDATE uplink_record SET due_at = {} WHERE target = {} AND state = 'pending' AND due_at > {} "
    "AND (claimed_until IS NULL OR claimed_until <= {})"
)


def senders(settings: Settings, wakeup: Wakeup, keys: Keys) -> list[Sender]:
    """This process's senders: one per configured target."""
    found = []
    if settings.uplink_url:
        mqtt = urlsplit(settings.uplink_url).scheme in ("mqtt", "mqtts")
        found.append(
            Sender(settings, wakeup, keys, PLATFORM, (MqttTransport if mqtt else HttpTransport)(settings))
        )
    if settings.viid_url:
        found.append(Sender(settings, wakeup, keys, VIID, ViidTransport(settings)))
    return found


class Sender:
    """This process's sender of one target's rows; the app starts and stops it."""

    def __init__(
        self, settings: Settings, wakeup: Wakeup, keys: Keys, target: str, transport: Transport
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._target, self._transport = target, transport
        self._signal = wakeup.local.waiter()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"uplink-sender-{self._target}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        async with self._transport.running():
            failing = False
            while True:
                pause = self._settings.live_poll
                try:
                    pause = min(pause, await self._round())
                except Exception:
                    if not failing:
                        log.exception("uplink sender failing; retrying every round")
                    failing = True
                else:
                    if failing:
                        log.info("uplink sender works again")
                    failing = False
                await wait(self._signal, max(pause, 0.05))

    async def _round(self) -> float:
        """Send whatever is due; the seconds until the next pending row is due (inf: none)."""
        while await self.send_due() == self._settings.uplink_batch:
            pass
        due = await _next_due(self._target)
        return float("inf") if due is None else (due - datetime.now(UTC)).total_seconds()

    async def send_due(self) -> int:
        """Claim the due rows, send them, record the outcome; how many rows were claimed."""
        engine = UplinkRecord._meta.db
        now = datetime.now(UTC)
        due = await _next_due(self._target)
        if due is None or due > now:
            return 0
        async with store.writer(engine) as writer:
            claim = CLAIM_HEAD + (" FOR UPDATE SKIP LOCKED" if writer.postgres else "") + CLAIM_TAIL
            claimed = await writer.fetch(
                claim,
                writer.at(now + LEASE),
                self._target,
                writer.at(now),
                writer.at(now),
                self._settings.uplink_batch,
            )
        if not claimed:
            return 0
        rows, refused = await self._ready(claimed)
        by_table: dict[str, list[Due]] = defaultdict(list)
        for row in rows:
            by_table[row.table_key].append(row)
        answers = await asyncio.gather(
            *(self._transport.send(table, batch) for table, batch in by_table.items())
        )
        outcomes = {key: outcome for answer in answers for key, outcome in answer.items()}
        outcomes |= {key: Outcome(REJECTED, why) for key, (_, why, _) in refused.items()}
        finished = Finished(
            rows=rows + [row for row, _, _ in refused.values()],
            outcomes=outcomes,
            problems={row.id: found for row, _, found in refused.values()},
        )
        await _record_through_outage(engine, self._target, finished, self._settings)
        return len(claimed)

    async def _ready(self, claimed: list[dict]) -> tuple[list[Due], dict[str, tuple[Due, str, str]]]:
        """The claimed rows to send (their sealed payloads opened), and those refused before sending
        (by key: the row, the reason, its problems as JSON). A row owed by reference is built now
        from its record; one that fails the standard, or whose record is gone, is refused."""
        unbuilt: dict[str, list[dict]] = defaultdict(list)
        rows = []
        for row in claimed:
            if row["payload"] == UNBUILT and row["table_key"] in BUILT_WHEN_SENT:
                unbuilt[row["table_key"]].append(row)
            else:
                rows.append(_due(row, opened(self._keys, row["payload"])))
        refused: dict[str, tuple[Due, str, str]] = {}
        for table_key, owed in unbuilt.items():
            built = await BUILT_WHEN_SENT[table_key](_fetch, self._keys, [row["record_key"] for row in owed])
            for row in owed:
                standard_row = built.get(row["record_key"])
                problems = (
                    standard.check(table_key, standard_row)
                    if standard_row is not None
                    else [standard.Problem("", "record_gone", "the record is no longer stored")]
                )
                if problems:
                    refused[row["key"]] = (
                        _due(row, ""),
                        summary(problems),
                        msgspec.json.encode(problems).decode(),
                    )
                else:
                    rows.append(_due(row, msgspec.json.encode(payload(table_key, standard_row)).decode()))
        return rows, refused


def retry_at(now: datetime, attempts: int, settings: Settings) -> datetime:
    """Doubling from the first retry up to the cap, each wait jittered to 50–100 %."""
    first, cap = settings.uplink_retry_seconds, settings.uplink_retry_max_seconds
    delay = min(first * 2 ** min(max(attempts - 1, 0), 30), cap)
    return now + timedelta(seconds=delay * random.uniform(0.5, 1.0))


def _due(row: dict, body: str) -> Due:
    return Due(
        id=row["id"], key=row["key"], table_key=row["table_key"], payload=body, attempts=row["attempts"]
    )


async def _fetch(sql: str, *values: object) -> list[dict]:
    return await UplinkRecord.raw(sql, *values)


class Finished(msgspec.Struct, frozen=True):
    """A round's claimed rows and what became of each: its outcome by key, the problems (JSON) of
    those refused before sending by id."""

    rows: list[Due]
    outcomes: dict[str, Outcome]
    problems: dict[int, str]


async def _record(engine: Engine, target: str, finished: Finished, settings: Settings) -> None:
    now = datetime.now(UTC)
    outcomes = finished.outcomes
    async with store.writer(engine) as writer:
        values = []
        for row in finished.rows:
            outcome = outcomes[row.key]
            if outcome.state == SENT:
                values.append((SENT, writer.at(now), writer.at(now), None, "", True, EMPTY, row.id))
            elif outcome.state == REJECTED:
                # A refused 视图库 object carries a capture, which is not kept here (seed 五.(五)).
                dropped = target == VIID
                values.append(
                    (REJECTED, writer.at(now), None, writer.at(now), outcome.reason, dropped, EMPTY, row.id)
                )
            else:
                due = retry_at(now, row.attempts, settings)
                values.append(
                    (PENDING, writer.at(due), None, writer.at(now), outcome.reason, False, EMPTY, row.id)
                )
        await writer.many(FINISH, values)
        await writer.many(PROBLEMS, [(found, row_id) for row_id, found in finished.problems.items()])
        if any(outcome.state != PENDING for outcome in outcomes.values()):  # the target answers again
            await writer.many(PULL_FORWARD, [(writer.at(now), target, writer.at(now), writer.at(now))])
    for row in finished.rows:
        outcome = outcomes[row.key]
        UPLINK_RECORDS.labels(row.table_key, "failed" if outcome.state == PENDING else outcome.state).inc()


async def _record_through_outage(engine: Engine, target: str, finished: Finished, settings: Settings) -> None:
    """Record the outcome, retrying while the database is away: unrecorded, the rows would be sent
    again once their lease ends. Past half the lease another sender may take them anyway, so the
    outcome is dropped then (a resend with the same keys, which the target drops)."""
    give_up, delay = time.monotonic() + LEASE.total_seconds() / 2, RETRY_FIRST
    while True:
        try:
            return await _record(engine, target, finished, settings)
        except TRANSIENT as exc:
            if time.monotonic() > give_up:
                raise
            log.warning("uplink outcome not recorded yet (%s); retrying", exc)
            wait_for, delay = backoff(delay)
            await asyncio.sleep(wait_for)


async def _next_due(target: str) -> datetime | None:
    rows = await UplinkRecord.raw(NEXT_DUE, target)
    due = rows[0]["due"] if rows else None
    if due is None:
        return None
    if isinstance(due, str):  # SQLite keeps UTC text
        due = datetime.fromisoformat(due)
    return due if due.tzinfo else due.replace(tzinfo=UTC)


def opened(keys: Keys, stored: object) -> str:
    """The row's JSON from its sealed form in the outbox (a JSON string of the sealed text)."""
    text = stored if isinstance(stored, str) else msgspec.json.encode(stored).decode()
    return keys.unseal(msgspec.json.decode(text, type=str))
