"""Verified, typed device messages handed to the handlers each domain registers.

The bridge verifies and translates; what a message means to the platform is the business of the
domain that registers for it. A handler receives the batch's messages of its kind together, in
arrival order, inside the batch's one transaction (a :class:`~device_bridge.store.Writer`), so
"stored once, acknowledged after commit" holds for every domain at once::

    handlers = Handlers()
    handlers.on(store_events)                              # every event
    handlers.on(store_passes, types={EventType.ACCESS})    # access events only
    handlers.on(apply_states, channel=Channel.STATE)       # retained online/offline states

Handlers run in the order registered. Each must be idempotent per message ``key`` (``ON CONFLICT
DO NOTHING``): a batch whose commit was not acknowledged comes back after a reconnect.

Slow work that needs no database (a face model on a capture) is registered as a preparation: it
runs on the batch before its transaction opens and replaces each message's data, so the
transaction stays short::

    handlers.prepare(embed_captures, types={EventType.FACE})
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any

import msgspec

from device_bridge import protocol
from device_bridge.protocol import Channel
from device_bridge.store import Writer


class KnownDevice(msgspec.Struct, frozen=True):
    """A registered device as the bridge needs it: where it is, and the secret that signs its messages."""

    id: int
    code: str
    community: int
    community_code: str
    building: int | None
    unit: int | None
    secret: bytes
    doors: dict[str, int] = {}  # device door number ("" for the only one) → door id
    kind: str = ""  # the registry's device kind (camera, smoke_sensor, emergency_button…)
    name: str = ""
    latitude: float | None = None
    longitude: float | None = None


class Message(msgspec.Struct, frozen=True):
    """A message whose signature, freshness and data shape have been checked."""

    device: KnownDevice
    channel: Channel
    id: str
    type: str
    at: datetime  # the device's signed time
    data: Any  # the typed data (protocol.DATA_SHAPES) or, for a type without a shape, the decoded JSON
    raw: Any  # the data as the device sent it, decoded JSON
    key: str  # "{device id}:{event id}", unique per event: what makes a redelivery a no-op


def verified_message(
    device: KnownDevice, channel: Channel, id: str, type: str, at: datetime, raw: Any
) -> Message:
    """A verified message with its data in shape (:class:`~protocol.MalformedMessage` if it is not),
    whichever way it came: MQTT (bridge.py) or a vendor's HTTP push."""
    shape = protocol.StateData if channel is Channel.STATE else protocol.DATA_SHAPES.get(type)
    data = protocol.shaped(type, raw, shape) if shape else raw
    return Message(device, channel, id, type, at, data, raw, f"{device.id}:{id}")


Handler = Callable[[Writer, Sequence[Message]], Awaitable[None]]
Preparation = Callable[[Sequence[Message]], Awaitable[Sequence[Message]]]
LoadDevices = Callable[[], Awaitable[Sequence[KnownDevice]]]


class Handlers:
    """Who handles which messages; see the module's docstring."""

    def __init__(self) -> None:
        self._handlers: list[tuple[Handler, Channel, frozenset[str] | None]] = []
        self._preparations: list[tuple[Preparation, frozenset[str]]] = []

    def on(
        self, handler: Handler, *, channel: Channel = Channel.EVENT, types: Collection[str] | None = None
    ) -> None:
        """Hand ``handler`` the messages of ``channel`` (of ``types`` only, when given)."""
        self._handlers.append((handler, channel, frozenset(types) if types is not None else None))

    def prepare(self, preparation: Preparation, *, types: Collection[str]) -> None:
        """Run ``preparation`` on the events of ``types`` before the transaction; it returns them,
        in the same order, with their data replaced. It must not raise for one bad message: it
        says what was wrong in the data it returns."""
        self._preparations.append((preparation, frozenset(types)))

    async def prepared(self, messages: Sequence[Message]) -> list[Message]:
        result = list(messages)
        for preparation, types in self._preparations:
            rows = [i for i, m in enumerate(result) if m.channel is Channel.EVENT and m.type in types]
            if rows:
                for row, message in zip(rows, await preparation([result[i] for i in rows]), strict=True):
                    result[row] = message
        return result

    async def dispatch(self, writer: Writer, messages: Sequence[Message]) -> None:
        for handler, channel, types in self._handlers:
            mine = [m for m in messages if m.channel is channel and (types is None or m.type in types)]
            if mine:
                await handler(writer, mine)


class Directory:
    """Devices by (community code, device code), loaded once and reloaded when an unknown one speaks
    or a known one signs with another secret (it was given a new one)."""

    RELOAD_AT_MOST_EVERY = 5.0

    def __init__(self, load: LoadDevices) -> None:
        self._load = load
        self._devices: dict[tuple[str, str], KnownDevice] = {}
        self._loaded_at = float("-inf")

    async def load(self) -> None:
        self._devices = {(d.community_code, d.code): d for d in await self._load()}
        self._loaded_at = time.monotonic()

    async def find(self, community: str, code: str) -> KnownDevice:
        device = self._devices.get((community, code))
        if device is None and time.monotonic() - self._loaded_at > self.RELOAD_AT_MOST_EVERY:
            await self.load()  # a newly registered device; rate-limited against floods of made-up ones
            device = self._devices.get((community, code))
        if device is None:
            raise protocol.UnknownDevice(f"no device {code!r} in community {community!r}")
        return device

    async def renewed(self, device: KnownDevice) -> KnownDevice | None:
        """The device as the registry has it now if its secret changed since it was loaded (rotated),
        else None; rate-limited like looking up a new device, against floods of forged messages."""
        if time.monotonic() - self._loaded_at <= self.RELOAD_AT_MOST_EVERY:
            return None
        await self.load()
        fresh = self._devices.get((device.community_code, device.code))
        return fresh if fresh is not None and fresh.secret != device.secret else None
