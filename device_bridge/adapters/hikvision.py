"""Hikvision face/card terminals over ISAPI (devices.md, second-hand): pushed ``AccessControllerEvent``
messages and the ``AcsEvent.InfoList`` items of an event search, both as access events.

The terminal gives no event id, but ``serialNo`` increases per device, so (device, serialNo) is the
idempotency key: a re-pushed or re-searched event maps to the same id.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec

from device_bridge.adapters import Translated, load_json, log, now_or, pick, stable_id
from device_bridge.protocol import AccessData, AccessMethod, Direction, EventType, MalformedMessage

VENDOR = "hikvision"
ACCESS_MAJOR = 5
# minor → (method, granted). Fingerprints (38/39) have no AccessMethod: they are skipped, not guessed.
ACCESS_MINORS: dict[int, tuple[AccessMethod, bool]] = {
    1: (AccessMethod.CARD, True),
    9: (AccessMethod.CARD, False),
    75: (AccessMethod.FACE, True),
    76: (AccessMethod.FACE, False),
}
FINGERPRINT_MINORS = (38, 39)
# Terminals set up without a time zone send local time with no offset; ours run in Wuhan.
TERMINAL_ZONE = timezone(timedelta(hours=8))


def translate(payload: bytes, device: str = "", now: datetime | None = None) -> list[Translated]:
    """``device`` names the terminal when the payload does not (event searches carry no address)."""
    message = load_json(payload, VENDOR)
    if not isinstance(message, dict):
        raise MalformedMessage(f"{VENDOR}: not a JSON object")
    if isinstance(event := message.get("AccessControllerEvent"), dict):
        record = {
            **event,
            "major": event.get("majorEventType"),
            "minor": event.get("subEventType"),
            "time": message.get("dateTime"),
        }
        access = _access(_device_name(message, device), record, now)
        return [access] if access else []
    if isinstance(search := message.get("AcsEvent"), dict):
        return _searched(search, _device_name(message, device), now)
    raise MalformedMessage(f"{VENDOR}: neither an AccessControllerEvent nor an AcsEvent")


def _device_name(message: dict[str, Any], device: str) -> str:
    """The MAC (lowercase, no separators: firmwares vary), else the IP, else the caller's name."""
    mac = message.get("macAddress")
    if isinstance(mac, str) and mac:
        return mac.replace(":", "").replace("-", "").lower()
    ip = message.get("ipAddress")
    if isinstance(ip, str) and ip:
        return ip
    if device:
        return device
    raise MalformedMessage(f"{VENDOR}: no macAddress or ipAddress and no device given")


def _searched(search: dict[str, Any], device: str, now: datetime | None) -> list[Translated]:
    records = pick(search, "InfoList", (list,), [], VENDOR)
    found = []
    for record in records:
        if not isinstance(record, dict):
            log.warning("%s: %s: skipping InfoList item %r", VENDOR, device, record)
        elif access := _access(device, record, now):
            found.append(access)
    return found


def _access(device: str, record: dict[str, Any], now: datetime | None) -> Translated | None:
    major, minor = _number(record.get("major")), _number(record.get("minor"))
    if major != ACCESS_MAJOR or minor not in ACCESS_MINORS:
        if major == ACCESS_MAJOR and minor in FINGERPRINT_MINORS:
            log.info("%s: %s: skipping fingerprint event %s", VENDOR, device, record.get("serialNo"))
        else:
            log.debug("%s: %s: skipping event %s/%s", VENDOR, device, major, minor)
        return None
    method, granted = ACCESS_MINORS[minor]
    door = pick(record, "doorNo", (int, str), "", VENDOR)
    data = AccessData(
        method=method,
        direction=_direction(record),
        granted=granted,
        credential=pick(record, "cardNo", (str,), "", VENDOR),
        door=str(door),
    )
    return Translated(
        device=device,
        id=_event_id(device, record),
        type=EventType.ACCESS,
        data={**msgspec.to_builtins(data), **_terminal_user(record)},
        ts=_time(record.get("time"), now),
    )


def _terminal_user(record: dict[str, Any]) -> dict[str, str]:
    """The person as the terminal knows them (its own user list), kept in the event's data for the
    record: who passed is decided by the platform's credentials, never by this name."""
    fields = {"name": "name", "employee_no": "employeeNoString"}
    found = {ours: pick(record, theirs, (str,), "", VENDOR) for ours, theirs in fields.items()}
    return {ours: value for ours, value in found.items() if value}


def _number(value: Any) -> int | None:
    """Event codes are integers, though some firmwares quote them."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _direction(record: dict[str, Any]) -> Direction:
    """Controllers wire an entry reader (odd number) and an exit reader (even) to each door."""
    reader = _number(record.get("cardReaderNo"))
    return Direction.OUT if reader is not None and reader % 2 == 0 else Direction.IN


def _event_id(device: str, record: dict[str, Any]) -> str:
    serial = _number(record.get("serialNo"))
    if serial is not None:
        return f"hik-{device}-{serial}"
    log.warning("%s: %s: event without serialNo; deriving its id from its content", VENDOR, device)
    parts = (record.get(field) for field in ("time", "major", "minor", "cardNo", "doorNo"))
    return stable_id("hik", device, *parts)


def _time(value: Any, now: datetime | None) -> str:
    """The terminal's own time, offset kept."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        log.warning("%s: unreadable event time %r; using the bridge's clock", VENDOR, value)
        return now_or(now).isoformat()
    if moment.tzinfo is None:
        log.info("%s: event time %r has no offset; assuming the terminal's %s", VENDOR, value, TERMINAL_ZONE)
        moment = moment.replace(tzinfo=TERMINAL_ZONE)
    return moment.isoformat()
