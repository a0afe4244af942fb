"""The bridge: device MQTT messages in, verified and translated, stored once; devices watched.

Several workers may run at once: on an external (MQTT 5) broker they share the event
subscription, so each event reaches one worker; a message is acknowledged to the broker only
after its batch is committed, so a worker that dies mid-batch loses nothing (the broker
redelivers, and the event key makes the redelivery a no-op).

Freshness (protocol.py): events and heartbeats outside the clock-skew window are refused as
``stale``; ``last_seen`` only moves forward; a state applies only if newer than the last applied.
Refusals are counted per reason (``BridgeCounter``) and logged in summaries (refusals.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import msgspec
from paho.mqtt.client import MQTTv5, MQTTv311
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend.db import is_postgres, transaction
from backend.devices.tables import BridgeCounter, Device, DeviceEvent, Notification
from backend.keys import Keys
from backend.settings import Settings
from device_bridge import protocol, store
from device_bridge.protocol import AccessData, AccessMethod, Channel, StateData
from device_bridge.refusals import RefusalLog
from device_bridge.transport import client_options, low_latency
from roles import Role
from roles.masking import mask_id as mask

log = logging.getLogger("anju.bridge")
OFFLINE_AFTER_HEARTBEATS = 2.5
SESSION_EXPIRY_SECONDS = 3600  # a restarting worker resumes its session: unacknowledged events come back  # silence tolerated before a device counts as offline
DIRECTORY_SQL = """
SELECT v.id, v.code, v.kind, v.community, v.building, v.unit, v.secret_sealed, c.code AS community_code,
       d.id AS door, d.device_door
FROM device v
JOIN community c ON c.id = v.community
LEFT JOIN door d ON d.device = v.id
"""


class KnownDevice(msgspec.Struct, frozen=True):
    id: int
    community: int
    building: int | None
    unit: int | None
    secret: bytes
    doors: dict[str, int]  # device door number ("" for the only one) → door id


class Directory:
    """Devices by (community code, device code), loaded once and reloaded when an unknown one speaks."""

    RELOAD_AT_MOST_EVERY = 5.0

    def __init__(self, keys: Keys) -> None:
        self._keys = keys
        self._devices: dict[tuple[str, str], KnownDevice] = {}
        self._loaded_at = float("-inf")

    async def load(self) -> None:
        doors: dict[tuple[str, str], dict[str, int]] = {}
        rows = await Device.raw(DIRECTORY_SQL)
        for row in rows:
            if row["door"] is not None:
                doors.setdefault((row["community_code"], row["code"]), {})[row["device_door"]] = row["door"]
        self._devices = {
            (row["community_code"], row["code"]): KnownDevice(
                id=row["id"],
                community=row["community"],
                building=row["building"],
                unit=row["unit"],
                secret=self._keys.unseal(row["secret_sealed"]).encode(),
                doors=doors.get((row["community_code"], row["code"]), {}),
            )
            for row in rows
        }
        self._loaded_at = time.monotonic()

    async def find(self, community: str, code: str) -> KnownDevice:
        device = self._devices.get((community, code))
        if device is None and time.monotonic() - self._loaded_at > self.RELOAD_AT_MOST_EVERY:
            await self.load()  # a newly registered device; rate-limited against floods of made-up ones
            device = self._devices.get((community, code))
        if device is None:
            raise protocol.UnknownDevice(f"no device {code!r} in community {community!r}")
        return device


@dataclass
class Batch:
    events: list[tuple] = field(default_factory=list)  # device, community, key, type, at, data
    passes: list[tuple] = field(default_factory=list)  # access_record columns, as in store.INSERT_PASS
    seen: dict[int, datetime] = field(default_factory=dict)  # device → latest message time
    # (device, online, signed ts) from state topics, in arrival order
    states: list[tuple[int, bool, datetime]] = field(default_factory=list)
    acks: list[tuple[int, int]] = field(default_factory=list)  # (mid, qos) to acknowledge after commit

    def __len__(self) -> int:
        return len(self.acks)


class Bridge:
    def __init__(
        self,
        settings: Settings,
        keys: Keys,
        worker: str,
        *,
        batch_size: int = 500,
        batch_seconds: float = 0.02,
        watch_seconds: float = 5.0,
    ) -> None:
        self.settings, self.worker = settings, worker
        self.broker, self.shared = settings.broker, settings.mqtt_external
        self.prefix = settings.mqtt_prefix
        self.directory = Directory(keys)
        self.skew = settings.device_clock_skew_seconds
        self.counts: Counter[str] = Counter()
        self.refusals = RefusalLog(log, f"bridge {worker}")
        self.batch_size, self.batch_seconds, self.watch_seconds = batch_size, batch_seconds, watch_seconds
        self._batch = Batch()
        self._client: aiomqtt.Client | None = None
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._batch_full = asyncio.Event()

    # --- running ---------------------------------------------------------------

    async def run(self) -> None:
        await self.directory.load()
        async with self._connect() as client:
            self._client = client
            low_latency(client)
            client._client.manual_ack_set(True)  # ack only after commit (paho's public switch)
            await client.subscribe(protocol.subscription(self.prefix, Channel.EVENT, self.shared), qos=1)
            # Every worker sees every retained state: marking online/offline is idempotent.
            await client.subscribe(protocol.subscription(self.prefix, Channel.STATE, False), qos=1)
            self.ready.set()
            log.info(
                "bridge %s listening on %s:%s (shared: %s)",
                self.worker,
                self.broker.host,
                self.broker.port,
                self.shared,
            )
            async with asyncio.TaskGroup() as tasks:
                # The flusher is never cancelled: it stops by itself after storing the last batch,
                # since a flush cut short would lose a batch already taken from the queue.
                tasks.create_task(self._flusher())
                interruptible = [
                    tasks.create_task(self._consume(client)),
                    tasks.create_task(self._watch_heartbeats()),
                    tasks.create_task(self._save_counters_periodically()),
                ]
                await self._stopping.wait()
                for task in interruptible:
                    task.cancel()
            await self.save_counters()
            self.refusals.flush()

    def stop(self) -> None:
        """Finish gracefully: stop taking messages, store and acknowledge the last batch."""
        self._stopping.set()

    async def _consume(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self._receive(message)

    def _connect(self) -> aiomqtt.Client:
        """A persistent session; on MQTT 5 the broker sends at most two batches ahead of our acks.

        That window is the bridge's back-pressure: it acknowledges after each commit, so a slow
        database slows delivery instead of filling a local queue (or the broker's drop limit).
        """
        if not self.shared:
            return aiomqtt.Client(
                **client_options(self.broker),
                identifier=f"anju-bridge-{self.worker}",
                protocol=MQTTv311,
                clean_session=False,
            )
        connect = Properties(PacketTypes.CONNECT)
        connect.ReceiveMaximum = 2 * self.batch_size
        connect.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        return aiomqtt.Client(
            **client_options(self.broker),
            identifier=f"anju-bridge-{self.worker}",
            protocol=MQTTv5,
            properties=connect,
        )

    # --- receiving -------------------------------------------------------------

    async def _receive(self, message: aiomqtt.Message) -> None:
        try:
            await self._accept(str(message.topic), message.payload, self._batch)
        except protocol.MessageError as exc:
            self.counts[exc.reason] += 1
            self.refusals.note(exc.reason, str(message.topic), str(exc))
            self._client._client.ack(message.mid, message.qos)  # never redeliver what we refuse
            return
        self._batch.acks.append((message.mid, message.qos))
        if len(self._batch) >= self.batch_size:
            self._batch_full.set()

    async def _accept(self, topic_name: str, payload: bytes, batch: Batch) -> None:
        parts = protocol.parse_topic(self.prefix, topic_name)
        envelope = protocol.decode(payload)
        device = await self.directory.find(parts.community, parts.device)
        protocol.verify(device.secret, topic_name, envelope)
        at = envelope.at
        if parts.channel is Channel.STATE:
            # A retained state may be hours old (ordering, not age, protects it: _apply_state); one
            # from the future would outrank every genuine state until then.
            protocol.check_fresh(envelope, math.inf, self.skew)
            batch.states.append((device.id, protocol.data_as(envelope, StateData).online, at))
            return
        protocol.check_fresh(envelope, self.skew, self.skew)
        key = f"{device.id}:{envelope.id}"
        # Validate everything before touching the batch: a refused message must leave no trace.
        shape = protocol.DATA_SHAPES.get(envelope.type)
        data = protocol.data_as(envelope, shape) if shape else None
        batch.seen[device.id] = max(at, batch.seen.get(device.id, at))
        batch.events.append(
            (device.id, device.community, key, envelope.type, at, msgspec.json.encode(envelope.data).decode())
        )
        if isinstance(data, AccessData):
            batch.passes.append(self._access_record(device, data, at, key))
        self.counts["accepted"] += 1

    @staticmethod
    def _access_record(device: KnownDevice, data: AccessData, at: datetime, key: str) -> tuple:
        credential = mask(data.credential) if data.method is AccessMethod.ID_CARD else data.credential
        door = device.doors.get(data.door)
        return (
            device.community,
            door,
            device.id,
            device.building,
            device.unit,
            data.method,
            data.direction,
            data.granted,
            credential[:50],
            at,
            f"ev:{key}",
        )

    # --- storing ---------------------------------------------------------------

    async def flush(self) -> None:
        batch, self._batch = self._batch, Batch()
        if not len(batch):
            return
        engine = DeviceEvent._meta.db
        postgres, now = is_postgres(engine), datetime.now(UTC)

        def at(value: datetime) -> datetime | str:
            return store.timestamp(value, postgres)

        async with store.writer(engine) as write:
            await write.many(store.INSERT_EVENT, [(*e[:4], at(e[4]), at(now), e[5]) for e in batch.events])
            await write.many(store.INSERT_PASS, [(*p[:9], at(p[9]), p[10], at(now)) for p in batch.passes])
            await write.many(
                store.TOUCH_DEVICE,
                [(at(seen), True, device, at(seen)) for device, seen in batch.seen.items()],
            )
        for device_id, online, signed in batch.states:
            await self._apply_state(device_id, online, signed)
        for mid, qos in batch.acks:
            self._client._client.ack(mid, qos)

    async def _flusher(self) -> None:
        """Store a batch when it is full or old enough; a last one when the bridge stops."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.batch_seconds):
                    await self._batch_full.wait()
            self._batch_full.clear()
            await self.flush()
        await self.flush()

    # --- device health -----------------------------------------------------------

    async def _apply_state(self, device_id: int, online: bool, signed: datetime) -> None:
        """Apply a state newer than the last applied one; an offline state also if equally new.

        The tie is the will of the session the online state opened (both carry the session's
        start, protocol.py), so a crash still shows; any older state, replayed, changes nothing.
        """
        newer = Device.state_at.is_null() | (Device.state_at < signed)
        if not online:
            newer = newer | (Device.state_at == signed)
        async with transaction(Device._meta.db):
            applied = (
                await Device.update({Device.state_at: signed})
                .where((Device.id == device_id) & newer)
                .returning(Device.id)
            )
            if applied:
                await self._set_online(device_id, online)

    async def _set_online(self, device_id: int, online: bool) -> None:
        """Flip a device's state; whoever flips it to offline tells the maintenance centre, once."""
        flipped = (
            await Device.update({Device.online: online})
            .where((Device.id == device_id) & (Device.online == (not online)))
            .returning(Device.id, Device.community, Device.name, Device.code)
        )
        if flipped and online:  # silence is counted from now on, but last_seen never moves back
            now = datetime.now(UTC)
            await Device.update({Device.last_seen: now}).where(
                (Device.id == device_id) & (Device.last_seen.is_null() | (Device.last_seen < now))
            )
        if flipped and not online:
            await _notify_offline(flipped[0])

    async def _watch_heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.watch_seconds)
            await self.mark_silent_devices_offline()

    async def mark_silent_devices_offline(self) -> None:
        """安全标准 一: a device silent for longer than its heartbeat allows is offline."""
        now = datetime.now(UTC)
        for row in await Device.select(Device.id, Device.last_seen, Device.heartbeat_seconds).where(
            Device.online == True  # noqa: E712 - a column comparison, not a truth test
        ):
            silence = (now - row["last_seen"]).total_seconds() if row["last_seen"] else float("inf")
            if silence > row["heartbeat_seconds"] * OFFLINE_AFTER_HEARTBEATS:
                await self._set_online(row["id"], False)

    async def _save_counters_periodically(self, every: float = 5.0) -> None:
        while True:
            await asyncio.sleep(every)
            await self.save_counters()

    async def save_counters(self) -> None:
        now = datetime.now(UTC)
        for reason, count in self.counts.items():
            await BridgeCounter.insert(
                BridgeCounter(
                    worker=self.worker,
                    reason=reason,
                    count=count,
                    updated_at=now,
                    slot=f"{self.worker}:{reason}",
                )
            ).on_conflict(
                target=BridgeCounter.slot,
                action="DO UPDATE",
                values=[BridgeCounter.count, BridgeCounter.updated_at],
            )


async def _notify_offline(device: dict[str, Any]) -> None:
    await Notification(
        community=device["community"],
        role=Role.MAINTENANCE,
        kind="device_offline",
        subject=f"device:{device['id']}",
        message=f"设备离线 / device offline: {device['name']} ({device['code']})",
    ).save()


@contextlib.asynccontextmanager
async def running(bridge: Bridge):
    """Run a bridge in the background until the block ends (tests, the demo)."""
    task = asyncio.create_task(bridge.run())
    ready = asyncio.create_task(bridge.ready.wait())
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # raise the start-up error
    try:
        yield bridge
    finally:
        bridge.stop()
        await task
