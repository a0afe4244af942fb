"""Zigbee2MQTT sensors and buttons (devices.md): state JSON on ``<base>/<friendly_name>``, availability on
``<base>/<friendly_name>/availability``.

:func:`translate` maps one message as it is; :class:`Zigbee2MqttAdapter` adds the memory needed because
Zigbee devices repeat their last state in every report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

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
from device_bridge.protocol import EventType, MalformedMessage, MeterKind

VENDOR = "zigbee2mqtt"
AVAILABILITY = "/availability"
# Boolean fields that are alarms: field → (alarm kind, the value that means active).
BOOLEAN_ALARMS: dict[str, tuple[str, bool]] = {
    "smoke": ("smoke", True),
    "water_leak": ("water_leak", True),
    "contact": ("door_open", False),  # contact true means closed
    "tamper": ("tamper", True),
    "sos": ("emergency", True),  # Feibit SOS button
}
HEALTH_FIELDS = ("battery", "voltage", "battery_low", "linkquality")
# Metering plugs and energy monitors: field → the meter it reads (power in W, energy in kWh). Their
# ``voltage`` and ``current`` are left alone: battery devices use ``voltage`` for their cell (mV).
READING_FIELDS: dict[str, tuple[MeterKind, str]] = {
    "power": (MeterKind.POWER, "W"),
    "energy": (MeterKind.ELECTRICITY, "kWh"),
}
KNOWN_FIELDS = {*BOOLEAN_ALARMS, *HEALTH_FIELDS, *READING_FIELDS, "action", "last_seen"}


def translate(
    topic: str, payload: bytes, base: str = "zigbee2mqtt", now: datetime | None = None
) -> list[Translated]:
    """Everything one message says, repeats included (see :class:`Zigbee2MqttAdapter`)."""
    name = _device_name(topic, base)
    if name is None:
        return []
    if name.endswith(AVAILABILITY):
        return [_availability(name.removesuffix(AVAILABILITY), payload, now)]
    state = load_json(payload, VENDOR)
    if not isinstance(state, dict):
        raise MalformedMessage(f"{VENDOR}: state of {name} is not a JSON object")
    if extra := sorted(set(state) - KNOWN_FIELDS):
        log.debug("%s: %s: ignoring fields %s", VENDOR, name, extra)
    ts = _moment(state, now)
    items = [_alarm(name, kind, active, ts) for kind, active in _alarm_states(name, state)]
    items += _readings(name, state, ts)
    if any(field in state for field in HEALTH_FIELDS):
        items.append(_heartbeat(name, state, ts))
    if not items:
        log.info("%s: %s sent nothing the bridge maps: %s", VENDOR, name, sorted(state))
    return items


class Zigbee2MqttAdapter:
    """Emits an alarm only when that alarm's state changes for its device."""

    def __init__(self, base: str = "zigbee2mqtt") -> None:
        self.base = base
        self._alarm_states: dict[tuple[str, str], bool] = {}

    def translate(self, topic: str, payload: bytes, now: datetime | None = None) -> list[Translated]:
        return [item for item in translate(topic, payload, self.base, now) if self._is_news(item)]

    def _is_news(self, item: Translated) -> bool:
        if item.type != EventType.ALARM:
            return True
        key = (item.device, item.data["kind"])
        active = item.data["active"]
        previous = self._alarm_states.get(key)
        self._alarm_states[key] = active
        # First sight: a quiet sensor is no news; a firing one is (the bridge may have restarted mid-alarm).
        return active if previous is None else active != previous


def _device_name(topic: str, base: str) -> str | None:
    """The friendly name (which may itself contain slashes), or None for topics that are not device reports."""
    if not topic.startswith(f"{base}/") or topic == f"{base}/":
        raise MalformedMessage(f"{VENDOR}: {topic[:200]!r} is not under {base}/")
    name = topic.removeprefix(f"{base}/")
    if name.startswith("bridge/") or name.endswith(("/set", "/get")):
        log.debug("%s: ignoring %s (the bridge's own topic or a command)", VENDOR, topic)
        return None
    return name


def _availability(name: str, payload: bytes, now: datetime | None) -> Translated:
    """Older releases publish ``online``/``offline``, newer ``{"state": "online"}``: accept both."""
    text = payload.strip()
    if text.startswith(b"{"):
        state = load_json(text, VENDOR).get("state")  # a JSON text starting with "{" is an object
    else:
        state = text.decode(errors="replace")
    if state not in ("online", "offline"):
        raise MalformedMessage(f"{VENDOR}: availability of {name} is {payload[:40]!r}")
    ts = _to_second(now_or(now))
    return Translated(
        device=name,
        id=stable_id("z2m", name, "availability", state, ts),
        type="state",
        data={"online": state == "online"},
        ts=ts,
    )


def _alarm_states(name: str, state: dict[str, Any]) -> list[tuple[str, bool]]:
    found = []
    for field, (kind, active_value) in BOOLEAN_ALARMS.items():
        if field in state and (value := pick(state, field, (bool,), None, f"{VENDOR}: {name}")) is not None:
            found.append((kind, value == active_value))
    if "action" in state:
        found.extend(_emergency_action(name, state["action"]))
    return found


def _emergency_action(name: str, action: Any) -> list[tuple[str, bool]]:
    """Tuya panic buttons send ``action: "emergency"``; an empty action is Zigbee2MQTT clearing it."""
    if action == "emergency":
        return [("emergency", True)]
    if action in ("", None):
        return [("emergency", False)]
    log.debug("%s: %s: action %r is not an alarm", VENDOR, name, action)
    return []


def _alarm(name: str, kind: str, active: bool, ts: str) -> Translated:
    return Translated(
        device=name,
        id=stable_id("z2m", name, kind, active, ts),
        type=EventType.ALARM,
        data=alarm_data(kind, active),
        ts=ts,
    )


def _readings(name: str, state: dict[str, Any], ts: str) -> list[Translated]:
    items = []
    for field, (meter, unit) in READING_FIELDS.items():
        value = pick(state, field, (int, float), None, f"{VENDOR}: {name}") if field in state else None
        if value is not None:
            data = {"meter": meter.value, "value": float(value), "unit": unit}
            items.append(
                Translated(name, stable_id("z2m", name, field, value, ts), EventType.READING, data, ts)
            )
    return items


def _heartbeat(name: str, state: dict[str, Any], ts: str) -> Translated:
    data: dict[str, Any] = {}
    battery = pick(state, "battery", (int, float), None, f"{VENDOR}: {name}")
    if battery is not None:
        data["battery"] = max(0, min(100, round(battery)))
    if "battery_low" in state:  # the only battery news many smoke detectors give
        data["battery_low"] = pick(state, "battery_low", (bool,), False, f"{VENDOR}: {name}")
    return Translated(
        device=name,
        id=stable_id("z2m", name, "heartbeat", msgspec.json.encode(data, order="sorted").decode(), ts),
        type=EventType.HEARTBEAT,
        data=data,
        ts=ts,
    )


def _moment(state: dict[str, Any], now: datetime | None) -> str:
    """``last_seen`` when the operator enabled it (ISO 8601 or epoch ms), else the bridge's clock."""
    seen = state.get("last_seen")
    if isinstance(seen, str):
        moment = _aware(seen)
    else:
        milliseconds = isinstance(seen, int | float) and not isinstance(seen, bool)
        moment = from_epoch(seen / 1000) if milliseconds else None
    if moment is not None:
        return _to_second(moment)
    if seen is not None:
        log.warning("%s: unreadable last_seen %r; using the bridge's clock", VENDOR, seen)
    return _to_second(now_or(now))


def _aware(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _to_second(moment: datetime) -> str:
    """Rounded down so that a message re-sent within the same second gets the same id."""
    return moment.replace(microsecond=0).isoformat()
