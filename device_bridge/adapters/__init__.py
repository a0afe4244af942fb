"""Vendor adapters: each module turns one maker's messages into the Anju contract (DESIGN.md).

Every quirk of a vendor lives in its own module, as pure functions over recorded payloads. A missing
or unexpected field is logged and tolerated; a payload that makes no sense at all raises
:class:`device_bridge.protocol.MalformedMessage`.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

import msgspec

from device_bridge import protocol

log = logging.getLogger("anju.bridge.adapters")


class Translated(msgspec.Struct, frozen=True):
    """One vendor message, or a part of it, in the contract's terms; the bridge signs and routes it."""

    device: str  # the vendor's own name: friendly_name, camera, terminal MAC…
    id: str  # stable idempotency id: a re-sent vendor message maps to the same id
    type: str  # a protocol.EventType value, or "state"
    data: dict[str, Any]  # shaped like protocol.AccessData / AlarmData / StateData
    ts: str  # ISO 8601 with offset


def load_json(payload: bytes, vendor: str) -> Any:
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError:
        raise protocol.MalformedMessage(f"{vendor}: not JSON: {payload[:80]!r}") from None


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic id for vendors that send none: same parts, same id."""
    digest = hashlib.sha1("\x1f".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()
    return f"{prefix}-{digest}"


def now_or(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def from_epoch(seconds: Any) -> datetime | None:
    """A UTC moment from a Unix time, or None when ``seconds`` is not a plausible one."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def alarm_data(kind: str, active: bool, detail: str = "", **extra: Any) -> dict[str, Any]:
    return {**msgspec.to_builtins(protocol.AlarmData(kind=kind, active=active, detail=detail)), **extra}


def pick(source: dict[str, Any], name: str, kinds: tuple[type, ...], default: Any, vendor: str) -> Any:
    """``source[name]`` when it has one of ``kinds``, else ``default``: vendors omit and vary fields."""
    if name not in source:
        log.debug("%s: %s is missing", vendor, name)
        return default
    value = source[name]
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return value
    log.warning("%s: %s has unexpected value %r", vendor, name, value)
    return default
