"""Plates read at barriers: the decision, the passage record (机动车出入信息), and the barrier's command.

A vehicle registered in the community, or named on a visitor pass valid at that moment, passes:
once the batch has committed, the platform sends ``open`` to the barrier that read it through the
device-command path (backend/devices/commands.py), with the command id ``plate-{event key}``, so a
redelivered event neither records nor opens twice. A vehicle going out passes too. Any other is
held for the guard (service.let_in / refuse). A plate on the community's watch list raises a
police-only alarm (alarms/kinds.py ``watched_vehicle``) whatever the decision.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.alarms.kinds import AlarmType
from backend.alarms.raising import Signal, Source, take
from backend.devices.commands import Opening, Openings
from backend.keys import Keys
from backend.settings import Settings
from backend.uplink import mappings as uplink
from backend.vehicles import plates
from backend.vehicles.tables import Outcome, Reason
from device_bridge.dispatch import Handlers, Message
from device_bridge.protocol import Direction, EventType, PlateData
from device_bridge.store import Writer

REGISTERED = "SELECT id, house, hpzl, color FROM vehicle WHERE active_slot = {}"
VISITOR = (
    "SELECT id FROM visitor_pass WHERE community = {} AND plate = {} AND status = 'active' "
    "AND valid_from <= {} AND valid_until >= {} ORDER BY id LIMIT 1"
)
WATCHED = "SELECT note FROM watched_plate WHERE active_slot = {}"
INSERT_PASSAGE = (
    "INSERT INTO vehicle_passage (community, device, plate, hpzl, color, plate_color, direction, at, picture, "
    "vehicle, house, visitor_pass, reason, outcome, watched, command, opened, decided_by, decided_at, key) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, NULL, NULL, {}) "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)
ANSWERED = "UPDATE vehicle_passage SET opened = {} WHERE command = {}"


def slot(community: int, plate: str) -> str:
    """The unique key of an active registration (or watch) of ``plate`` in ``community``."""
    return f"{community}:{plate}"


def register(handlers: Handlers, openings: Openings | None, keys: Keys, settings: Settings) -> None:
    """``openings`` None: decisions are recorded but nothing is opened (a worker without commands).
    Each passage is owed to the uplink (机动车出入信息, and the 视图库 when configured)."""

    async def judge_plates(writer: Writer, messages: Sequence[Message]) -> None:
        opening: list[Opening] = []
        captured: list[uplink.VehicleCapture] = []
        for message in messages:
            if (command := await _judge(writer, message, captured)) is not None:
                opening.append(Opening(message.device, command))
        await uplink.vehicle_access(writer, keys, captured, viid=bool(settings.viid_url))
        if openings is not None:
            openings.after_commit(writer, opening, ANSWERED)

    handlers.on(judge_plates, types={EventType.PLATE})


async def _judge(writer: Writer, message: Message, captured: list[uplink.VehicleCapture]) -> str | None:
    """Record the passage once (and what the uplink owes of it, in ``captured``); the open
    command's id when the barrier should open now."""
    data: PlateData = message.data
    device, plate = message.device, plates.normalised(data.plate)[:15]
    at = writer.at(message.at)
    vehicle = await writer.fetch(REGISTERED, slot(device.community, plate))
    visitor = [] if vehicle else await writer.fetch(VISITOR, device.community, plate, at, at)
    watched = await writer.fetch(WATCHED, slot(device.community, plate))
    reason = _reason(data, vehicle, visitor)
    outcome = Outcome.HELD if reason is Reason.UNKNOWN else Outcome.PASSED
    command = f"plate-{message.key}" if outcome is Outcome.PASSED else ""
    registered = vehicle[0] if vehicle else {}
    hpzl, color, picture = (
        registered.get("hpzl") or plates.kind_of(plate),
        registered.get("color", ""),
        data.picture[:300],
    )
    inserted = await writer.fetch(
        INSERT_PASSAGE,
        device.community,
        device.id,
        plate,
        hpzl,
        color,
        data.color[:10],
        data.direction,
        at,
        picture,
        registered.get("id"),
        registered.get("house"),
        visitor[0]["id"] if visitor else None,
        reason,
        outcome,
        bool(watched),
        command,
        f"ev:{message.key}",
    )
    if not inserted:
        return None  # a redelivery: recorded, and opened, the first time
    captured.append(
        uplink.VehicleCapture(
            passage=inserted[0]["id"],
            device=device,
            plate=plate,
            hpzl=hpzl,
            color=color,
            plate_color=data.color,
            direction=data.direction,
            at=message.at,
            picture=picture,
            watched=bool(watched),
        )
    )
    if watched:
        await _alert_police(writer, message, plate, watched[0]["note"])
    return command or None


def _reason(data: PlateData, vehicle: list, visitor: list) -> Reason:
    if vehicle:
        return Reason.REGISTERED
    if visitor:
        return Reason.VISITOR
    return Reason.LEAVING if data.direction is Direction.OUT else Reason.UNKNOWN


async def _alert_police(writer: Writer, message: Message, plate: str, note: str) -> None:
    direction = "驶出" if message.data.direction is Direction.OUT else "驶入"
    signal = Signal(
        key=f"plate:{message.key}",
        device=Source.of(message.device),
        type=AlarmType.WATCHED_VEHICLE,
        at=message.at,
        detail=" · ".join(part for part in (plate, direction, note) if part),
    )
    # Each sighting is an alarm of its own: a fold window of zero never folds two together.
    await take(writer, signal, fold_seconds=0)
