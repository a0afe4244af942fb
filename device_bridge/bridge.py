"""The bridge: device MQTT messages in, verified and translated, handed to the domains, stored once.

Three parts: the connection is a reconnecting :class:`~device_bridge.session.Session`; each
message is verified and translated here (protocol.py); verified messages are batched and handed to
the handlers the domains registered (dispatch.py), all inside one transaction per batch. A message
is acknowledged to the broker only after its batch is committed, so nothing is lost when a worker
dies mid-batch or the database goes away: the batch is retried, unacknowledged, until the database
is back (or the worker gives up and exits), and the broker redelivers what was never acknowledged;
the event key makes a redelivery a no-op.

Several workers may run at once: on an external (MQTT 5) broker they share the event
subscription, so each event reaches one worker. Freshness (protocol.py): events outside the
clock-skew window are refused as ``stale``; a state is never refused for its age (ordering
protects it, see the devices domain). Refusals are counted per reason and logged in summaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import aiomqtt
import msgspec

from device_bridge import protocol
from device_bridge.dispatch import Directory, Handlers, KnownDevice, Message, verified_message
from device_bridge.protocol import Channel
from device_bridge.refusals import RefusalLog
from device_bridge.retry import RETRY_FIRST, backoff
from device_bridge.session import GaveUp, Session
from device_bridge.store import Writer
from device_bridge.transport import Broker

log = logging.getLogger("anju.bridge")
Transaction = Callable[[], AbstractAsyncContextManager[Writer]]
Job = Callable[[], Awaitable[None]]


class BridgeConfig(msgspec.Struct, frozen=True, kw_only=True):
    broker: Broker
    worker: str  # names the persistent session: a restarted worker of the same name resumes it
    prefix: str = protocol.DEFAULT_PREFIX
    shared: bool = False  # an external MQTT 5 broker: workers share the events
    skew: float = 300.0  # seconds a device's clock may be off
    batch_size: int = 500
    batch_seconds: float = 0.02
    # Seconds without a broker, or without a database to store a batch in, before the worker exits.
    give_up_after: float = 60.0


@dataclass
class Batch:
    messages: list[Message] = field(default_factory=list)
    # (connection, mid, qos) to acknowledge after commit, on the connection that received each
    acks: list[tuple[aiomqtt.Client, int, int]] = field(default_factory=list)
    started: float = 0.0  # monotonic time its first message arrived

    def __len__(self) -> int:
        return len(self.acks)


class Bridge:
    def __init__(
        self,
        config: BridgeConfig,
        directory: Directory,
        handlers: Handlers,
        transaction: Transaction,
        *,
        transient: tuple[type[BaseException], ...] = (OSError,),
        conflicts: tuple[type[BaseException], ...] = (),
    ) -> None:
        """``transaction`` opens the batch's transaction; ``transient`` are the errors of a database
        outage; ``conflicts`` those of a transaction the database rolled back against another
        (a deadlock with another worker), retried at once.
        """
        self.config, self.worker = config, config.worker
        self.directory, self.handlers = directory, handlers
        self._transaction, self._transient, self._conflicts = transaction, transient, conflicts
        self.counts: Counter[str] = Counter()  # "accepted" and each refusal reason
        self.stored = 0  # messages committed
        self.last_batch_at: float | None = None  # wall-clock time of the last commit
        self.batch_lag = 0.0  # seconds from the first message of the last batch to its commit
        self.refusals = RefusalLog(log, f"bridge {config.worker}")
        self.session = Session(
            f"bridge {config.worker}",
            config.broker,
            identifier=f"anju-bridge-{config.worker}",
            subscriptions=[
                (protocol.subscription(config.prefix, Channel.EVENT, config.shared), 1),
                # Every worker sees every retained state: applying one is idempotent.
                (protocol.subscription(config.prefix, Channel.STATE, False), 1),
            ],
            persistent=True,
            mqtt5=config.shared,
            # The broker sends at most two batches ahead of our acks: a slow database slows delivery
            # instead of filling a local queue (or the broker's drop limit).
            receive_maximum=2 * config.batch_size,
            manual_ack=True,
            give_up_after=config.give_up_after,
            log=log,
        )
        self.ready = asyncio.Event()  # connected and subscribed once
        self._jobs: list[tuple[float, Job]] = []
        self._alongside: list[Callable[[], Awaitable[None]]] = []
        self._at_stop: list[Job] = []
        self._batch = Batch()
        self._stopping = asyncio.Event()
        self._batch_full = asyncio.Event()

    def every(self, seconds: float, job: Job, *, at_stop: bool = False) -> None:
        """Run ``job`` every ``seconds`` while the bridge runs (and once more at a clean stop, if ``at_stop``).

        A database outage skips a turn; the device watch and the counters are such jobs.
        """
        self._jobs.append((seconds, job))
        if at_stop:
            self._at_stop.append(job)

    def alongside(self, runner: Callable[[], Awaitable[None]]) -> None:
        """Run ``runner`` (a connection of a domain's own, such as door commands) while the bridge
        runs; it is cancelled when the bridge stops."""
        self._alongside.append(runner)

    @property
    def liveness(self) -> dict[str, object]:
        return {
            "connected": self.session.connected,
            "reconnects": self.session.reconnects,
            "last_message_at": self.session.last_message_at,
            "last_batch_at": self.last_batch_at,
            "batch_lag": self.batch_lag,
        }

    # --- running ---------------------------------------------------------------

    async def run(self) -> None:
        """Until stop(); raises :class:`GaveUp` when it cannot go on (its process should exit non-zero)."""
        await self.directory.load()
        try:
            async with asyncio.TaskGroup() as tasks:
                # The flusher is never cancelled: it stops by itself after storing the last batch,
                # since a flush cut short would lose a batch already taken from the queue.
                flusher = tasks.create_task(self._flusher())
                interruptible = [tasks.create_task(self._repeat(s, job)) for s, job in self._jobs]
                interruptible += [tasks.create_task(runner()) for runner in self._alongside]
                connection = tasks.create_task(self.session.run(self._consume))
                await self._stopping.wait()
                for task in interruptible:
                    task.cancel()
                await flusher  # the last batch, acknowledged while still connected
                connection.cancel()
            for job in self._at_stop:
                await job()
        except* GaveUp as group:
            raise group.exceptions[0] from None
        finally:
            self.refusals.flush()

    def stop(self) -> None:
        """Finish gracefully: store and acknowledge the last batch, then disconnect."""
        self._stopping.set()

    async def _consume(self, client: aiomqtt.Client) -> None:
        self.ready.set()
        async for message in self.session.messages(client):
            await self._receive(client, message)

    async def _repeat(self, seconds: float, job: Job) -> None:
        failing = False
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except self._transient as exc:
                if not failing:
                    name = getattr(job, "__name__", "a periodic job")
                    log.warning("bridge %s: %s skipped, database unreachable (%s)", self.worker, name, exc)
                failing = True
                continue
            failing = False

    # --- receiving -------------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        try:
            verified = await self._verified(str(message.topic), message.payload)
        except protocol.MessageError as exc:
            self.counts[exc.reason] += 1
            self.refusals.note(exc.reason, str(message.topic), str(exc))
            self.session.ack(client, message.mid, message.qos)  # never redeliver what we refuse
            return
        except self._transient as exc:  # a new device, and no database to look it up in
            # Left unacknowledged: the broker hands it over again with the next session.
            self.counts["deferred"] += 1
            log.debug("bridge %s: directory unavailable (%s)", self.worker, exc)
            return
        self.counts["accepted"] += 1
        if not self._batch:
            self._batch.started = time.monotonic()
        self._batch.messages.append(verified)
        self._batch.acks.append((client, message.mid, message.qos))
        if len(self._batch) >= self.config.batch_size:
            self._batch_full.set()

    async def _verified(self, topic_name: str, payload: bytes) -> Message:
        """The message, verified and with its data in shape; refusing raises MessageError."""
        parts = protocol.parse_topic(self.config.prefix, topic_name)
        envelope = protocol.decode(payload)
        device = await self._signer(
            await self.directory.find(parts.community, parts.device), topic_name, envelope
        )
        if parts.channel is Channel.STATE:
            # A retained state may be hours old (ordering, not age, protects it); one from the
            # future would outrank every genuine state until then.
            protocol.check_fresh(envelope, math.inf, self.config.skew)
        else:
            protocol.check_fresh(envelope, self.config.skew, self.config.skew)
        return verified_message(device, parts.channel, envelope.id, envelope.type, envelope.at, envelope.data)

    async def _signer(self, device: KnownDevice, topic_name: str, envelope: protocol.Envelope) -> KnownDevice:
        """The device that signed ``envelope``: as this worker loaded it, or with the secret it was
        given since (a rotation); ForgedMessage if neither secret signed it."""
        try:
            protocol.verify(device.secret, topic_name, envelope)
            return device
        except protocol.ForgedMessage:
            renewed = await self.directory.renewed(device)
            if renewed is None:
                raise
        protocol.verify(renewed.secret, topic_name, envelope)
        return renewed

    # --- storing ---------------------------------------------------------------

    async def flush(self) -> None:
        """Hand the batch to the handlers in one transaction; acknowledge it once committed."""
        batch, self._batch = self._batch, Batch()
        if not batch:
            return
        batch.messages = await self.handlers.prepared(batch.messages)
        await self._store(batch)
        for client, mid, qos in batch.acks:
            self.session.ack(client, mid, qos)
        self.stored += len(batch.messages)
        self.last_batch_at, self.batch_lag = time.time(), time.monotonic() - batch.started

    async def _store(self, batch: Batch) -> None:
        """Commit the batch, retrying while the database is away; GaveUp after ``give_up_after``."""
        delay, failing_since = RETRY_FIRST, None
        while True:
            try:
                async with self._transaction() as writer:
                    await self.handlers.dispatch(writer, batch.messages)
            except self._conflicts:
                self.counts["retried_conflict"] += 1  # nothing of it was committed: run it again
                continue
            except self._transient as exc:
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    log.error(
                        "bridge %s: database unreachable (%s: %s); holding %d messages unacknowledged",
                        self.worker,
                        type(exc).__name__,
                        exc,
                        len(batch.messages),
                    )
                if now - failing_since > self.config.give_up_after:
                    raise GaveUp(
                        f"bridge {self.worker}: no database for {now - failing_since:.0f} s"
                    ) from exc
                wait, delay = backoff(delay)
                await asyncio.sleep(wait)
                continue
            if failing_since is not None:
                log.warning(
                    "bridge %s: database back after %.1f s", self.worker, time.monotonic() - failing_since
                )
            return

    async def _flusher(self) -> None:
        """Store a batch when it is full or old enough; a last one when the bridge stops."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.batch_seconds):
                    await self._batch_full.wait()
            self._batch_full.clear()
            await self.flush()
        await self.flush()


@contextlib.asynccontextmanager
async def running(bridge: Bridge):
    """Run a bridge in the background until the block ends (tests, the demo)."""
    task = asyncio.create_task(bridge.run())
    ready = asyncio.create_task(bridge.ready.wait())
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()  # raise the start-up error
    try:
        yield bridge
    finally:
        bridge.stop()
        await task
