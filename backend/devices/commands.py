"""Signed commands to devices over MQTT: one signing path for every action, awaited acks for doors.

A command is signed with the time it is sent, so devices can refuse a stale copy. :class:`CommandSender`
signs and publishes on whatever connection it is given (the app's own, or a bridge worker's);
:class:`DeviceCommands` is the app's connection, which also listens to every ack so that a door
opening can await its device's answer. Acks from outside the device clock-skew window are refused;
refusals are logged in summaries. The connection is a reconnecting session (device_bridge/session.py):
without a broker it retries with a growing, jittered delay and logs only when the connection is lost
or back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiomqtt
import msgspec

from backend.errors import Conflict, DomainError
from backend.settings import Settings
from device_bridge import protocol
from device_bridge.dispatch import KnownDevice
from device_bridge.protocol import AckData, Channel
from device_bridge.refusals import RefusalLog
from device_bridge.session import Session
from device_bridge.store import Writer

log = logging.getLogger("anju.commands")


class CommandServiceUnavailable(DomainError):
    status = 503


class DeviceTimeout(DomainError):
    status = 504


def unavailable() -> CommandServiceUnavailable:
    return CommandServiceUnavailable(
        "command_service_unavailable", "Device commands are starting or lost their broker"
    )


class CommandTarget(msgspec.Struct, frozen=True):
    community: str  # community code
    device: str  # device code
    secret: bytes


class CommandSender:
    """Signs a command for one device and publishes it on the connection ``client_of`` gives."""

    def __init__(self, prefix: str, client_of: Callable[[], aiomqtt.Client | None]) -> None:
        self._prefix, self._client_of = prefix, client_of

    async def send(self, target: CommandTarget, command_id: str, action: str, data: dict[str, Any]) -> None:
        """Publish ``action`` with ``data``; raises CommandServiceUnavailable without a broker."""
        client = self._client_of()
        if client is None:
            raise unavailable()
        name = protocol.topic(self._prefix, target.community, target.device, Channel.CMD)
        # Signed now, at each send (encode's default ts): a device refuses it once it is stale,
        # and a retry under the same id is a new envelope that the device answers as before.
        payload = protocol.encode(target.secret, name, command_id, "cmd", {**data, "action": action})
        # QoS 0: the device's signed ack is the end-to-end acknowledgement, and a retry carries
        # the same command id, so a hop-by-hop PUBACK would only add round trips.
        await client.publish(name, payload, qos=0)


class DeviceCommands:
    """One MQTT connection per app process: publishes commands, listens to every ack."""

    def __init__(self, settings: Settings) -> None:
        self._ack_seconds = settings.door_ack_seconds
        self._prefix = settings.mqtt_prefix
        self._skew = settings.device_clock_skew_seconds
        self._refusals = RefusalLog(log, "device commands")
        # One future per command id in flight, shared by every request carrying that id
        # (parallel taps under one Idempotency-Key publish one command and share its ack).
        self._pending: dict[str, tuple[asyncio.Future, CommandTarget]] = {}
        self._waiters: Counter[str] = Counter()
        self._task: asyncio.Task | None = None
        # Not persistent: an ack that arrives while the app is away answers a request already timed out.
        self._session = Session(
            "device commands",
            settings.broker,
            identifier=f"anju-app-{secrets.token_hex(4)}",
            subscriptions=[(protocol.subscription(self._prefix, Channel.ACK, shared=False), 1)],
            log=log,
        )
        self.sender = CommandSender(self._prefix, lambda: self._session.client)

    @property
    def connected(self) -> bool:
        return self._session.connected

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def run(self) -> None:
        """The connection, until cancelled (an app process starts it; a bridge runs it alongside)."""
        try:
            await self._session.run(self._listen)
        finally:
            self._refusals.flush()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._refusals.flush()

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Every ack of this connection; a broker restart costs the commands in flight, never the process."""
        async for message in self._session.messages(client):
            self._on_ack(str(message.topic), message.payload)

    def _on_ack(self, topic_name: str, payload: bytes) -> None:
        try:
            envelope = protocol.decode(payload)
            ack = protocol.data_as(envelope, AckData)
            waiting = self._pending.get(ack.command)
            if waiting is None:
                return  # another app process sent it, it already timed out, or nobody awaits it
            done, target = waiting
            expected = protocol.topic(self._prefix, target.community, target.device, Channel.ACK)
            if topic_name != expected:
                raise protocol.ForgedMessage(f"ack for {ack.command} on {topic_name}")
            protocol.verify(target.secret, topic_name, envelope)
            protocol.check_fresh(envelope, self._skew, self._skew)
        except protocol.MessageError as exc:
            self._refusals.note(exc.reason, topic_name, str(exc))
            return
        if not done.done():
            done.set_result(ack)

    async def open(self, target: CommandTarget, command_id: str, door: str = "") -> AckData:
        """Publish ``open`` with ``command_id`` (the idempotency key) and wait for the device's ack."""
        return await self.request(target, command_id, "open", {"door": door})

    async def request(
        self, target: CommandTarget, command_id: str, action: str, data: dict[str, Any]
    ) -> AckData:
        """Send a command and wait for its ack; concurrent requests under one id share one send."""
        if self._session.client is None:
            raise unavailable()
        pending = self._pending.get(command_id)
        if pending is not None and pending[1] != target:
            raise Conflict("idempotency_key_in_use", "This Idempotency-Key is commanding another device")
        self._waiters[command_id] += 1
        try:
            if pending is None:
                pending = self._pending[command_id] = (asyncio.get_running_loop().create_future(), target)
                await self.sender.send(target, command_id, action, data)
            async with asyncio.timeout(self._ack_seconds):
                # Shielded: one waiter timing out must not cancel the answer the others await.
                return await asyncio.shield(pending[0])
        except TimeoutError:
            raise DeviceTimeout(
                "device_timeout",
                f"The device did not answer within {self._ack_seconds:g} s; it may be offline",
            ) from None
        finally:
            self._leave(command_id)

    def _leave(self, command_id: str) -> None:
        """The last waiter for a command forgets it; a later retry starts afresh."""
        self._waiters[command_id] -= 1
        if not self._waiters[command_id]:
            del self._waiters[command_id]
            self._pending.pop(command_id, None)


class Opening(msgspec.Struct, frozen=True):
    """A door or barrier a bridge handler decided to open: the command id makes it idempotent."""

    device: KnownDevice
    command: str
    door: str = ""  # door code on multi-door devices


class Openings:
    """Opens doors and barriers for a bridge worker once the batch that decided it has committed,
    and records each device's answer on the record that decided it. Its command connection runs
    alongside the bridge."""

    def __init__(
        self, doors: DeviceCommands, transaction: Callable[[], AbstractAsyncContextManager[Writer]]
    ) -> None:
        self.doors, self._transaction = doors, transaction
        self._sending: set[asyncio.Task] = set()

    def after_commit(self, writer: Writer, openings: Sequence[Opening], answered: str) -> None:
        """``answered``: the statement recording an answer, ``… SET opened = {} WHERE command = {}``."""

        async def send() -> None:
            for opening in openings:
                # Not awaited here: the batch's acknowledgement must not wait for a device's ack.
                task = asyncio.create_task(self._open(opening, answered))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

        if openings:
            writer.after_commit(send)

    async def _open(self, opening: Opening, answered: str) -> None:
        device = opening.device
        target = CommandTarget(community=device.community_code, device=device.code, secret=device.secret)
        try:
            ack = await self.doors.open(target, opening.command, opening.door)
        except DomainError as exc:  # the record keeps opened NULL: decided, but the device never said so
            log.warning("%s did not open for %s: %s", device.code, opening.command, exc.message)
            return
        async with self._transaction() as writer:
            await writer.many(answered, [(ack.ok, opening.command)])
