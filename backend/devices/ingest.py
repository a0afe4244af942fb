"""What device messages mean to the devices domain, and the wiring of a bridge worker.

The devices domain stores every event once, moves ``last_seen`` forward, applies online/offline
states in order and tells the maintenance centre when a device goes offline; the access domain
stores passes (backend/access/ingest.py), the alarms domain raises alarms and counts readings
(backend/alarms/ingest.py), the vehicles domain judges plates read at barriers
(backend/vehicles/ingest.py), the probes domain keeps MAC sightings (backend/probes/ingest.py).
:func:`build_bridge` gives a bridge the device directory, every
domain's handlers, the batch transaction and a door-command connection (barriers are opened from
the bridge). A later domain (faces, tags) adds its ``register`` call in :func:`handlers`.

Liveness: every ``save_every`` seconds the worker writes its counters to ``bridge_counter``
(one row per worker and reason): the refusal reasons, ``accepted``, ``stored``, and the gauges
``connected`` (1/0), ``reconnects`` and ``batch_lag_ms``; the rows' ``updated_at`` is the worker's
heartbeat. A worker that cannot go on exits non-zero (cli.py) for its supervisor to restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from asyncpg.exceptions import TransactionRollbackError
from piccolo.engine.base import Engine

from backend.access import ingest as access_ingest
from backend.alarms import ingest as alarms_ingest
from backend.alarms.escalation import escalate_overdue
from backend.alarms.ingest import AlarmConfig
from backend.alarms.raising import Source
from backend.analytics.service import analyse
from backend.archive import service as archive
from backend.db import TRANSIENT
from backend.devices.commands import DeviceCommands, Openings
from backend.devices.tables import BridgeCounter, Device, Liveness
from backend.ebikes.watch import check_tags
from backend.faces import gates
from backend.faces.captures import Forwarder, erase_expired
from backend.faces.runtime import Faces
from backend.intercom import ringing
from backend.keys import Keys
from backend.notices.display import Screens
from backend.notices.service import publish_due
from backend.probes import ingest as probes_ingest
from backend.settings import Settings
from backend.vehicles import ingest as vehicles_ingest
from backend.visitors import ingest as visitors_ingest
from device_bridge import store
from device_bridge.bridge import Bridge, BridgeConfig
from device_bridge.dispatch import Directory, Handlers, KnownDevice, Message
from device_bridge.protocol import Channel, EventType
from device_bridge.store import Writer
from roles import Role

OFFLINE_AFTER_HEARTBEATS = 2.5  # silence tolerated before a device counts as offline
CAPTURE_FORWARD_SECONDS = 1.0  # captures go to the police platform in (near) real time
CAPTURE_ERASE_SECONDS = 60.0  # also how soon a face of someone who moved out is deleted
SIGHTING_ERASE_SECONDS = 3600.0
RING_TICK_SECONDS = 1.0  # intercom rings move on to the next member (or are missed) within a second  # sightings are kept for days: an hourly sweep is close enough
# A batch PostgreSQL rolled back against another worker's (deadlock, serialization failure).
CONFLICTS = (TransactionRollbackError,)
DIRECTORY_SQL = """
SELECT v.id, v.code, v.kind, v.name, v.latitude, v.longitude, v.community, v.building, v.unit, v.secret_sealed,
       c.code AS community_code,
       d.id AS door, d.device_door
FROM device v
JOIN community c ON c.id = v.community
LEFT JOIN door d ON d.device = v.id
"""
INSERT_EVENT = (
    "INSERT INTO device_event (device, community, key, type, at, received_at, data) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (key) DO NOTHING"
)
# Only ever forward: a late or replayed message neither rewinds last_seen nor revives a device marked
# offline since. (Rows: time, online, device, time. Text comparison is time order on SQLite: store.timestamp.)
TOUCH_DEVICE = (
    "UPDATE device SET last_seen = {}, online = {} WHERE id = {} AND (last_seen IS NULL OR last_seen < {})"
)
# A state newer than the last applied one; an offline state also if equally new: the tie is the will
# of the session the online state opened (both carry the session's start, protocol.py), so a crash
# still shows, and any older state, replayed, changes nothing.
APPLY_STATE = (
    "UPDATE device SET state_at = {} WHERE id = {} "
    "AND (state_at IS NULL OR state_at < {} OR ({} AND state_at = {})) RETURNING id"
)
SET_ONLINE = (
    "UPDATE device SET online = {} WHERE id = {} AND online = {} "
    "RETURNING id, community, name, code, kind, latitude, longitude"
)
# The latest battery level a heartbeat or a state reports (rows: battery, device).
SET_BATTERY = "UPDATE device SET battery = {} WHERE id = {}"
SEEN_NOW = "UPDATE device SET last_seen = {} WHERE id = {} AND (last_seen IS NULL OR last_seen < {})"
NOTIFY = (
    "INSERT INTO notification (community, role, kind, subject, message, created_at, read_at) "
    "VALUES ({}, {}, {}, {}, {}, {}, NULL)"
)


def directory_loader(keys: Keys):
    """The bridge's view of the registry: each device, its doors and its unsealed secret."""

    async def load() -> list[KnownDevice]:
        return known_devices(keys, await Device.raw(DIRECTORY_SQL))

    return load


async def known_device(keys: Keys, code: str) -> KnownDevice | None:
    """One device by its code, as the bridge knows it (for an HTTP intake)."""
    rows = await Device.raw(DIRECTORY_SQL + "WHERE v.code = {}", code)
    return known_devices(keys, rows)[0] if rows else None


def known_devices(keys: Keys, rows: list[dict]) -> list[KnownDevice]:
    """Devices from DIRECTORY_SQL rows (a device with several doors has a row per door)."""
    doors: dict[int, dict[str, int]] = {}
    for row in rows:
        if row["door"] is not None:
            doors.setdefault(row["id"], {})[row["device_door"]] = row["door"]
    devices = {
        row["id"]: KnownDevice(
            id=row["id"],
            code=row["code"],
            community=row["community"],
            community_code=row["community_code"],
            building=row["building"],
            unit=row["unit"],
            secret=keys.unseal(row["secret_sealed"]).encode(),
            doors=doors.get(row["id"], {}),
            kind=row["kind"],
            name=row["name"],
            latitude=row["latitude"],
            longitude=row["longitude"],
        )
        for row in rows
    }
    return list(devices.values())


# --- handlers --------------------------------------------------------------------


async def store_events(writer: Writer, messages: Sequence[Message]) -> None:
    """Every event once, by its key; each device seen at its latest event."""
    now = writer.at(datetime.now(UTC))
    rows = [
        (m.device.id, m.device.community, m.key, m.type, writer.at(m.at), now, _json(m.raw)) for m in messages
    ]
    await writer.many(INSERT_EVENT, rows)
    seen: dict[int, datetime] = {}
    for m in messages:
        seen[m.device.id] = max(m.at, seen.get(m.device.id, m.at))
    # In device order, so that workers touching the same devices lock them in the same order.
    await writer.many(
        TOUCH_DEVICE, [(writer.at(at), True, device, writer.at(at)) for device, at in sorted(seen.items())]
    )


async def apply_states(writer: Writer, messages: Sequence[Message]) -> None:
    """Online/offline states in arrival order, each only if newer than the last applied."""
    for m in messages:
        signed = writer.at(m.at)
        offline = not m.data.online
        if await writer.fetch(APPLY_STATE, signed, m.device.id, signed, offline, signed):
            await set_online(writer, m.device.id, m.data.online)


async def store_batteries(writer: Writer, messages: Sequence[Message]) -> None:
    """``Device.battery`` from heartbeats and states: each device's latest report in the batch."""
    levels = {m.device.id: m.data.battery for m in messages if m.data.battery is not None}
    await writer.many(SET_BATTERY, [(battery, device) for device, battery in sorted(levels.items())])


async def set_online(writer: Writer, device_id: int, online: bool) -> None:
    """Flip a device's state; whoever flips it tells the alarms (an offline alarm raised or cleared)
    and, going offline, the maintenance centre, once."""
    flipped = await writer.fetch(SET_ONLINE, online, device_id, not online)
    if not flipped:
        return
    device = flipped[0]
    await alarms_ingest.device_offline(writer, Source.of_row(device), online)
    now = writer.at(datetime.now(UTC))
    if online:  # silence is counted from now on, but last_seen never moves back
        await writer.many(SEEN_NOW, [(now, device_id, now)])
        return
    message = f"设备离线 / device offline: {device['name']} ({device['code']})"
    await writer.many(
        NOTIFY,
        [
            (
                device["community"],
                Role.MAINTENANCE.value,
                "device_offline",
                f"device:{device['id']}",
                message,
                now,
            )
        ],
    )


def _json(data: object) -> str:
    return msgspec.json.encode(data).decode()


def handlers(
    settings: Settings, keys: Keys, openings: Openings | None = None, faces: Faces | None = None
) -> Handlers:
    """Every domain's handlers, in the order they run within a batch's transaction (face gates only
    where a face engine is given: a bridge worker)."""
    registry = Handlers()
    registry.on(store_events)
    registry.on(apply_states, channel=Channel.STATE)
    registry.on(store_batteries, types={EventType.HEARTBEAT})
    registry.on(store_batteries, channel=Channel.STATE)
    access_ingest.register(registry, keys)
    alarms_ingest.register(registry, AlarmConfig.of(settings))
    visitors_ingest.register(registry)
    vehicles_ingest.register(registry, openings, keys, settings)
    probes_ingest.register(registry, keys)
    ringing.register(registry, settings.intercom_ring_seconds)
    if faces is not None:
        gates.register(registry, faces, gates.Gates(settings, keys, openings))
    return registry


# --- jobs ------------------------------------------------------------------------


def transaction():
    return store.writer(Device._meta.db)


def transaction_on(engine: Engine | None):
    """Batches on ``engine`` (a test's own); by default on the tables' database."""
    return transaction if engine is None else lambda: store.writer(engine)


async def mark_silent_devices_offline() -> None:
    """安全标准 一: a device silent for longer than its heartbeat allows is offline."""
    now = datetime.now(UTC)
    silent = [
        row["id"]
        for row in await Device.select(Device.id, Device.last_seen, Device.heartbeat_seconds).where(
            Device.online == True  # noqa: E712 - a column comparison, not a truth test
        )
        if _silence(row["last_seen"], now) > row["heartbeat_seconds"] * OFFLINE_AFTER_HEARTBEATS
    ]
    for device_id in silent:
        async with transaction() as writer:
            await set_online(writer, device_id, False)


def _silence(last_seen: datetime | None, now: datetime) -> float:
    return (now - last_seen).total_seconds() if last_seen else float("inf")


async def save_counters(bridge: Bridge) -> None:
    """The worker's counters and liveness gauges, one row per reason; ``updated_at`` is its heartbeat."""
    now = datetime.now(UTC)
    gauges = {
        Liveness.STORED: bridge.stored,
        Liveness.CONNECTED: int(bridge.session.connected),
        Liveness.RECONNECTS: bridge.session.reconnects,
        Liveness.BATCH_LAG_MS: round(bridge.batch_lag * 1000),
    }
    for reason, count in {**bridge.counts, **gauges}.items():
        await BridgeCounter.insert(
            BridgeCounter(
                worker=bridge.worker,
                reason=reason,
                count=count,
                updated_at=now,
                slot=f"{bridge.worker}:{reason}",
            )
        ).on_conflict(
            target=BridgeCounter.slot,
            action="DO UPDATE",
            values=[BridgeCounter.count, BridgeCounter.updated_at],
        )


def build_bridge(
    settings: Settings,
    keys: Keys,
    worker: str,
    *,
    batch_size: int = 500,
    batch_seconds: float = 0.02,
    watch_seconds: float = 5.0,
    save_every: float = 5.0,
    give_up_after: float | None = None,
    engine: Engine | None = None,
) -> Bridge:
    """A bridge worker with the registry as its directory and every domain's handlers."""
    config = BridgeConfig(
        broker=settings.broker,
        worker=worker,
        prefix=settings.mqtt_prefix,
        shared=settings.mqtt_external,
        skew=settings.device_clock_skew_seconds,
        batch_size=batch_size,
        batch_seconds=batch_seconds,
        give_up_after=settings.bridge_give_up_seconds if give_up_after is None else give_up_after,
    )
    # Barriers and gates are opened, and notice screens shown, on a command connection of the worker's own.
    commands = DeviceCommands(settings)
    openings = Openings(commands, transaction_on(engine))
    bridge = Bridge(
        config,
        Directory(directory_loader(keys)),
        handlers(settings, keys, openings, Faces(settings)),
        transaction_on(engine),
        transient=TRANSIENT,
        conflicts=CONFLICTS,
    )

    async def save_liveness() -> None:
        await save_counters(bridge)

    async def escalate() -> None:
        await escalate_overdue(transaction_on(engine), settings)

    bridge.every(watch_seconds, mark_silent_devices_offline)
    bridge.alongside(commands.run)
    screens = Screens(commands.sender, keys)

    async def publish_scheduled_notices() -> None:
        await publish_due(transaction_on(engine), screens, keys)

    bridge.every(watch_seconds, escalate)
    bridge.every(watch_seconds, publish_scheduled_notices)
    bridge.every(save_every, save_liveness, at_stop=True)

    async def run_analysis() -> None:
        await analyse(transaction_on(engine), settings, keys)

    async def watch_tags() -> None:
        await check_tags(transaction_on(engine), settings)

    async def erase_captures() -> None:
        await erase_expired(transaction_on(engine))

    async def erase_old_sightings() -> None:
        await probes_ingest.erase_old(transaction_on(engine), settings)

    async def forget_departed_faces() -> None:
        await gates.forget_departed(transaction_on(engine))

    async def move_rings() -> None:
        await ringing.move_rings(
            transaction_on(engine), commands.sender, keys, settings.intercom_ring_seconds
        )

    bridge.every(RING_TICK_SECONDS, move_rings)
    bridge.every(watch_seconds, watch_tags)
    bridge.every(settings.analyse_every_seconds, run_analysis)
    bridge.every(CAPTURE_ERASE_SECONDS, erase_captures)
    bridge.every(CAPTURE_ERASE_SECONDS, forget_departed_faces)
    bridge.every(SIGHTING_ERASE_SECONDS, erase_old_sightings)
    if settings.archive_every_hours:

        async def archive_due() -> None:
            await archive.periodic(settings)

        bridge.every(settings.archive_every_hours * 3600, archive_due)
    if settings.capture_sink_url:
        bridge.every(CAPTURE_FORWARD_SECONDS, Forwarder(settings, keys, transaction_on(engine)).forward_due)
    return bridge
