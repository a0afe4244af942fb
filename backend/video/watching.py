"""Which registered camera watches an alarm's place, read from the registries whenever an alarm is
shown (never copied onto the alarm): the alarm pop-up's "view camera" opens it on the wall.

In order: the alarm's own device, if it is a registered camera; a camera of the alarm's perimeter
zone (the zone it names, else the one its device guards); a camera at the same unit (the device's,
or the flat's of a button alarm), then building, then gate. The first registered camera (lowest
id) of the first of these that has one.

The statements are plain SQL with ``{}`` placeholders, so that Piccolo's ``raw`` (reads) and a
bridge transaction's Writer.fetch (an alarm being raised) run the same ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import msgspec

Fetch = Callable[..., Awaitable[list[dict[str, Any]]]]

CAMERAS = (
    "SELECT c.id, c.community, c.device, d.gate, d.building, d.unit FROM camera c "
    "JOIN device d ON d.id = c.device WHERE c.community IN ({}) ORDER BY c.id"
)
ZONES = "SELECT id, detectors, cameras FROM perimeter_zone WHERE community IN ({}) ORDER BY id"
DEVICES = "SELECT id, gate, building, unit FROM device WHERE id IN ({})"
HOUSES = "SELECT id, building, unit FROM house WHERE id IN ({})"


class Placed(Protocol):
    """What of an alarm says where it is (backend/alarms/schemas.py AlarmOut)."""

    id: int
    community: int
    device: int
    zone: int | None
    house: int | None


def _in(sql: str, count: int) -> str:
    return sql.replace("IN ({})", "IN (" + ", ".join(["{}"] * count) + ")")


def _ids(value: Any) -> list[int]:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else list(value or [])


async def camera_ids(fetch: Fetch, alarms: Sequence[Placed]) -> dict[int, int]:
    """Alarm id → the id (in the video registry) of the camera watching its place, where one does."""
    if not alarms:
        return {}
    communities = sorted({a.community for a in alarms})
    cameras = await fetch(_in(CAMERAS, len(communities)), *communities)
    if not cameras:
        return {}
    zones = await fetch(_in(ZONES, len(communities)), *communities)
    device_ids = sorted({a.device for a in alarms})
    devices = {row["id"]: row for row in await fetch(_in(DEVICES, len(device_ids)), *device_ids)}
    house_ids = sorted({a.house for a in alarms if a.house is not None})
    houses = (
        {row["id"]: row for row in await fetch(_in(HOUSES, len(house_ids)), *house_ids)} if house_ids else {}
    )
    found = {}
    for alarm in alarms:
        here = [c for c in cameras if c["community"] == alarm.community]
        if (
            camera := _watching(alarm, here, zones, devices.get(alarm.device), houses.get(alarm.house))
        ) is not None:
            found[alarm.id] = camera
    return found


def _watching(
    alarm: Placed,
    cameras: list[dict[str, Any]],
    zones: list[dict[str, Any]],
    device: dict[str, Any] | None,
    house: dict[str, Any] | None,
) -> int | None:
    by_device = {c["device"]: c["id"] for c in cameras}
    if alarm.device in by_device:
        return by_device[alarm.device]
    zone = next((z for z in zones if z["id"] == alarm.zone), None) or next(
        (z for z in zones if alarm.device in _ids(z["detectors"])), None
    )
    if zone is not None:
        watching = [by_device[d] for d in _ids(zone["cameras"]) if d in by_device]
        if watching:
            return min(watching)
    place = {key: (house or {}).get(key) or (device or {}).get(key) for key in ("unit", "building")}
    place["gate"] = (device or {}).get("gate")
    for key in ("unit", "building", "gate"):
        if place[key] is not None:
            watching = [c["id"] for c in cameras if c[key] == place[key]]
            if watching:
                return min(watching)
    return None


T = TypeVar("T", bound=Placed)


async def with_cameras(fetch: Fetch, alarms: list[T]) -> list[T]:
    """The alarms with ``camera_id`` set from the registries."""
    found = await camera_ids(fetch, alarms)
    return [msgspec.structs.replace(a, camera_id=found.get(a.id)) for a in alarms]
