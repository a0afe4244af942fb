"""Frigate NVR (devices.md): tracked objects on ``<base>/events``, the NVR's availability on ``<base>/available``.

A car whose plate Frigate's LPR recognised (``recognized_license_plate``, or a known plate's name
in ``sub_label``) is a ``plate`` event of the camera, once per object and plate; name the LPR camera
in Frigate after the barrier's device code, since the barrier that reports a plate is the one opened.

An object inside a zone of interest is an intrusion alarm, raised on ``new``/``update`` and closed on ``end``;
the same Frigate object keeps its id across the three, so the alarm does too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from device_bridge.adapters import (
    Translated,
    alarm_data,
    from_epoch,
    load_json,
    log,
    now_or,
    pick,
    stable_id,
)
from device_bridge.protocol import EventType, MalformedMessage

VENDOR = "frigate"
EVENT_TYPES = ("new", "update", "end")


def translate(
    topic: str, payload: bytes, now: datetime | None = None, base: str = "frigate"
) -> list[Translated]:
    if topic == f"{base}/available":
        return [_availability(base, payload, now)]
    if topic == f"{base}/events":
        return _event(payload, now)
    if topic.startswith(f"{base}/"):
        log.debug("%s: ignoring %s", VENDOR, topic)  # per-camera stats, snapshots, switches…
        return []
    raise MalformedMessage(f"{VENDOR}: {topic[:200]!r} is not under {base}/")


def _availability(base: str, payload: bytes, now: datetime | None) -> Translated:
    state = payload.strip().decode(errors="replace")
    if state not in ("online", "offline"):
        raise MalformedMessage(f"{VENDOR}: availability is {payload[:40]!r}")
    ts = now_or(now).replace(microsecond=0).isoformat()
    return Translated(
        device=base,
        id=stable_id("frigate", base, "available", state, ts),
        type="state",
        data={"online": state == "online"},
        ts=ts,
    )


def _event(payload: bytes, now: datetime | None) -> list[Translated]:
    message = load_json(payload, VENDOR)
    if not isinstance(message, dict) or not isinstance(message.get("after"), dict):
        raise MalformedMessage(f"{VENDOR}: event without an 'after' object")
    after: dict[str, Any] = message["after"]
    event_id, camera = after.get("id"), after.get("camera")
    if not (isinstance(event_id, str) and event_id and isinstance(camera, str) and camera):
        raise MalformedMessage(f"{VENDOR}: event without an id or a camera")
    kind = message.get("type")
    if kind not in EVENT_TYPES:
        log.warning("%s: %s: unknown event type %r", VENDOR, event_id, kind)
        return []
    if after.get("false_positive") is True:
        return []
    plate = _plate(after, kind, camera, event_id, now)
    zones = _zones(after)
    if not zones:
        return plate  # seen outside every zone: not an intrusion
    label = pick(after, "label", (str,), "", VENDOR)
    data = alarm_data(
        "intrusion",
        kind != "end",
        f"{label or 'object'} in {', '.join(zones)}",
        camera=camera,
        label=label,
        zones=zones,
        score=_score(after),
        event=event_id,
    )
    ts = _event_time(after, kind, now)
    return [*plate, Translated(camera, f"frigate-{event_id}-{kind}", EventType.ALARM, data, ts)]


def _plate(
    after: dict[str, Any], kind: str, camera: str, event_id: str, now: datetime | None
) -> list[Translated]:
    """The recognised plate, if any; its id repeats across updates of the object, so it is judged once."""
    plate = pick(after, "recognized_license_plate", (str,), "", VENDOR)
    sub_label = after.get("sub_label")
    if not plate and isinstance(sub_label, list) and sub_label and isinstance(sub_label[0], str):
        plate = sub_label[0]  # [name, score]: a known plate's recognised text
    if not plate:
        return []
    data = {"plate": plate, "direction": "in", "picture": f"frigate:{event_id}"}
    if isinstance(score := after.get("recognized_license_plate_score"), int | float):
        data["score"] = float(score)
    ts = _event_time(after, kind, now)
    return [Translated(camera, stable_id("frigate-plate", event_id, plate), EventType.PLATE, data, ts)]


def _zones(after: dict[str, Any]) -> list[str]:
    """Zones entered so far, then current ones: ``end`` often has no current zone left."""
    entered = pick(after, "entered_zones", (list,), [], VENDOR)
    current = pick(after, "current_zones", (list,), [], VENDOR)
    return list(dict.fromkeys(zone for zone in [*entered, *current] if isinstance(zone, str) and zone))


def _score(after: dict[str, Any]) -> float | None:
    """``top_score`` is the object's best; older releases have only ``score``."""
    for field in ("top_score", "score"):
        if isinstance(value := after.get(field), int | float) and not isinstance(value, bool):
            return float(value)
    log.debug("%s: %s has no score", VENDOR, after.get("id"))
    return None


def _event_time(after: dict[str, Any], kind: str, now: datetime | None) -> str:
    fields = ("end_time", "frame_time", "start_time") if kind == "end" else ("frame_time", "start_time")
    for field in fields:
        if (moment := from_epoch(after.get(field))) is not None:
            return moment.isoformat()
    log.warning("%s: %s has no usable time; using the bridge's clock", VENDOR, after.get("id"))
    return now_or(now).isoformat()
