"""Simulated community devices that speak the real contract (protocol.py) to a real MQTT broker.

Each device has its own connection and secret, a signed retained state backed by a signed last will,
and the behaviour of its kind: access events, heartbeats, rare alarms, acknowledged door commands
(stale ones refused; executed ids kept on disk under ``state_dir``, so none runs twice), and
screens that display and clear notices.
Used by the demo, the integration tests and the ingest benchmarks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import math
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiomqtt
import msgspec

from device_bridge import protocol
from device_bridge.acl import device_password
from device_bridge.executed import ExecutedCommands
from device_bridge.panel import GIVE_UP_SECONDS, Panel
from device_bridge.protocol import (
    AccessData,
    AccessMethod,
    AlarmData,
    CallAction,
    CallData,
    Channel,
    CommandAction,
    CommandData,
    Direction,
    DisplayData,
    EventType,
    FaceData,
    MeterKind,
    PlateData,
    ReadingData,
    SightingData,
    SightingKind,
)
from device_bridge.refusals import RefusalLog
from device_bridge.session import Session
from device_bridge.transport import Broker, client_options
from qr import passes

log = logging.getLogger("anju.bridge.simulator")

WUHAN = timezone(timedelta(hours=8))  # devices report their local time
# "device": anything that only heartbeats (a camera, a detector…); "water_meter": cumulative readings;
# "wifi_probe": MAC sightings of passing phones.
KINDS = (
    "door_controller",
    "face_gate",
    "intercom",
    "barrier",
    "sensor",
    "emergency_button",
    "device",
    "water_meter",
    "screen",
    "wifi_probe",
)
OPENS_DOORS = frozenset({"door_controller", "face_gate", "intercom", "barrier"})
SHOWS_NOTICES = frozenset({"screen"})  # screens and broadcast devices: display and clear
COMMANDED = OPENS_DOORS | SHOWS_NOTICES
SCREEN_ACTIONS = frozenset({CommandAction.DISPLAY, CommandAction.CLEAR})
KEYPAD_METHODS = (AccessMethod.CARD, AccessMethod.ID_CARD, AccessMethod.PIN)
# Methods rotate; a face gate mostly sees cards and PINs, since many residents refuse face capture.
ACCESS_METHODS: dict[str, tuple[AccessMethod, ...]] = {
    "door_controller": KEYPAD_METHODS,
    "intercom": KEYPAD_METHODS,
    "face_gate": (
        AccessMethod.CARD,
        AccessMethod.PIN,
        AccessMethod.FACE,
        AccessMethod.CARD,
        AccessMethod.PIN,
    ),
}
ALARM_KINDS = {"sensor": "smoke", "emergency_button": "emergency"}  # these are also the battery devices
GRANTED_SHARE = 0.9
BROKER_SECONDS = 10.0  # for a PUBACK or SUBACK; a silent broker counts as a lost one
KILL_SECONDS = 5.0
COMMAND_MAX_AGE = 30.0  # seconds either side of the device's clock (ANJU_COMMAND_MAX_AGE_SECONDS)
BURST_IN_FLIGHT = 64
PRESENT = "present"  # command: show the ``token`` in its data at the reader, as a visitor would
# Intercom panels: the demo's (or a test's) stand-in for a visitor keying in flat ``house`` (RING),
# and the platform's answer and hang-up of a call (protocol.CommandAction).
RING = "ring"
PANEL_ACTIONS = frozenset({RING, CommandAction.ANSWER, CommandAction.HANGUP})
PANELS = frozenset({"intercom"})


class DeviceSpec(msgspec.Struct, frozen=True):
    community: str  # community code
    code: str  # device code
    kind: str  # one of KINDS
    secret: bytes
    heartbeat: int  # seconds
    # Provisioned with door devices: the community's visitor-pass public key (raw Ed25519) and
    # the platform's id of each door it controls (device door number → door id).
    pass_key: bytes = b""
    doors: dict[str, int] = {}

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown device kind {self.kind!r}; expected one of {KINDS}")
        if not (protocol.SEGMENT.match(self.community) and protocol.SEGMENT.match(self.code)):
            raise ValueError(
                f"community and device codes must be topic segments: {self.community}/{self.code}"
            )

    def logged_in(self, broker: Broker) -> Broker:
        """``broker`` with this device's own MQTT account: its code and the password its secret derives."""
        return broker.as_user(self.code, device_password(self.secret))


def sign(
    spec: DeviceSpec,
    prefix: str,
    channel: Channel,
    type: str,
    data: dict[str, Any],
    ts: datetime | None = None,
) -> tuple[str, bytes]:
    """A fresh envelope id and the payload for ``spec``'s ``channel`` topic, signed with its secret."""
    message_id = uuid.uuid4().hex
    name = protocol.topic(prefix, spec.community, spec.code, channel)
    return message_id, protocol.encode(
        spec.secret, name, message_id, type, data, ts=ts or datetime.now(WUHAN)
    )


def access_data(rng: random.Random, method: AccessMethod) -> dict[str, Any]:
    data = AccessData(
        method=method,
        direction=rng.choice((Direction.IN, Direction.OUT)),
        granted=rng.random() < GRANTED_SHARE,
        credential=_credential(rng, method),
    )
    return msgspec.to_builtins(data)


def _credential(rng: random.Random, method: AccessMethod) -> str:
    if method is AccessMethod.CARD:
        return f"{rng.randrange(10**10):010d}"  # a Mifare card number as printed on the card
    if method is AccessMethod.ID_CARD:  # masked as readers send it: Wuhan district, last four only
        return f"4201{rng.randrange(2, 18):02d}{'*' * 8}{rng.randrange(1000):03d}{rng.choice('0123456789X')}"
    return ""  # a PIN or a face never leaves the device


def _alarm_data(kind: str, active: bool) -> dict[str, Any]:
    return msgspec.to_builtins(AlarmData(kind=kind, active=active))


class SimulatedDevice:
    """One device on its own connection; :class:`Simulator` runs, stops and kills it."""

    def __init__(
        self,
        spec: DeviceSpec,
        broker: Broker,
        prefix: str,
        event_interval: float,
        alarm_chance: float,
        seed: int,
        *,
        state_dir: Path,
        command_max_age: float,
        refusals: RefusalLog,
        ice_servers: list[dict[str, Any]] | None = None,
        panel_give_up: float = GIVE_UP_SECONDS,
    ) -> None:
        self.spec, self.broker, self.prefix = spec, spec.logged_in(broker), prefix
        self.panel = Panel(ice_servers, panel_give_up, self._gave_up) if spec.kind in PANELS else None
        self.event_interval, self.alarm_chance = event_interval, alarm_chance
        # "@" is in no topic segment, so the name is unambiguous and never "." or "..".
        self.state_file = state_dir / f"{spec.community}@{spec.code}.executed"
        self.command_max_age, self.refusals = command_max_age, refusals
        # The topic prefix keeps two deployments (or test runs) on one broker from taking over each
        # other's sessions: a client id is broker-wide.
        self.identifier = f"sim-{prefix}-{spec.community}-{spec.code}"
        self.rng = random.Random(f"{seed}:{spec.community}-{spec.code}")  # per device: reproducible jitter
        self.battery = self.rng.randint(60, 100) if spec.kind in ALARM_KINDS else None
        self.opened: list[str] = []  # ids of the commands it executed
        self.showing: dict[int, DisplayData] = {}  # a screen's notices, by id
        self._pass_key = passes.public_key(spec.pass_key) if spec.pass_key else None
        self.online = asyncio.Event()  # connected and announced
        self._executed: ExecutedCommands | None = None
        self._client: aiomqtt.Client | None = None
        self._started = datetime.now(WUHAN)  # the current session's start (_will)
        self._killed = False

    def topic(self, channel: Channel) -> str:
        return protocol.topic(self.prefix, self.spec.community, self.spec.code, channel)

    async def run(self) -> None:
        """Stay connected until cancelled or killed: a broker restart costs a reconnect, not the device."""
        if self.spec.kind in COMMANDED:  # the device boots with the commands it executed lately
            self._executed = ExecutedCommands(self.state_file, self.command_max_age)
        # aiomqtt's own timeouts use asyncio.wait_for, which on Python 3.11 can swallow a cancellation and
        # leave a device running after stop(): they are off, and _acknowledged bounds each request instead.
        session = Session(
            self.identifier,
            self.broker,
            identifier=self.identifier,
            will=self._will,
            announce=False,
            log=log,
            timeout=math.inf,
        )
        try:
            await session.run(self._session)
        finally:
            if self._executed is not None:
                self._executed.close()
            if self.panel is not None:
                await self.panel.close()

    def kill(self) -> None:
        """Lose the connection as a crash would: no DISCONNECT packet, so the broker publishes the will."""
        self._killed = True
        if self._client is None:
            return
        # aiomqtt has no public way to drop a connection uncleanly: shut paho's socket down under it.
        sock = self._client._client.socket()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)

    def _will(self) -> aiomqtt.Will:
        """Each connection's will, signed with the session's start like the online state that follows it."""
        self._started = datetime.now(WUHAN)
        return aiomqtt.Will(self.topic(Channel.STATE), self._state(False, self._started), qos=1, retain=True)

    async def _session(self, client: aiomqtt.Client) -> None:
        """One connection; returns (ending the device) once killed."""
        if self._killed:
            return
        self._client = client
        try:
            await self._acknowledged(
                client.publish(
                    self.topic(Channel.STATE), self._state(True, self._started), qos=1, retain=True
                )
            )
            if self.spec.kind in COMMANDED:
                await self._acknowledged(client.subscribe(self.topic(Channel.CMD), qos=0))
            self.online.set()
            await self._behave(client)
        except aiomqtt.MqttError:
            if self._killed:  # the crash we staged: the broker publishes the will
                return
            raise
        except asyncio.CancelledError:
            if not self._killed:  # a clean stop says so itself; the will is for crashes
                with contextlib.suppress(aiomqtt.MqttError):
                    goodbye = self._state(False, datetime.now(WUHAN))
                    await self._acknowledged(
                        client.publish(self.topic(Channel.STATE), goodbye, qos=1, retain=True)
                    )
            raise
        finally:
            self._client = None
            self.online.clear()

    @staticmethod
    async def _acknowledged(request: Awaitable[Any]) -> None:
        try:
            async with asyncio.timeout(BROKER_SECONDS):
                await request
        except TimeoutError:
            raise aiomqtt.MqttError(f"no answer from the broker within {BROKER_SECONDS:g} s") from None

    def _state(self, online: bool, ts: datetime) -> bytes:
        data: dict[str, Any] = {"online": online}
        if self.battery is not None:
            data["battery"] = self.battery
        return sign(self.spec, self.prefix, Channel.STATE, "state", data, ts)[1]

    async def _behave(self, client: aiomqtt.Client) -> None:
        behaviours: list[Callable[[aiomqtt.Client], Awaitable[None]]] = [self._listen, self._heartbeats]
        if self.spec.kind in ACCESS_METHODS:
            behaviours.append(self._access_events)
        if self.spec.kind in ALARM_KINDS:
            behaviours.append(self._alarms)
        if self.spec.kind == "water_meter":
            behaviours.append(self._readings)
        if self.spec.kind == "barrier":
            behaviours.append(self._plates)
        if self.spec.kind == "wifi_probe":
            behaviours.append(self._sightings)
        try:
            async with asyncio.TaskGroup() as group:
                for behaviour in behaviours:
                    group.create_task(behaviour(client))
        except* aiomqtt.MqttError as lost:
            raise lost.exceptions[0] from None

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Serve commands; for every kind this is also how a lost connection is noticed."""
        async for message in client.messages:
            await self._on_command(client, message)

    async def _on_command(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        topic_name = str(message.topic)
        payload = message.payload if isinstance(message.payload, bytes) else b""
        try:
            envelope = protocol.verify(self.spec.secret, topic_name, protocol.decode(payload))
            command = protocol.data_as(envelope, CommandData)
            if command.action in SCREEN_ACTIONS:
                protocol.data_as(envelope, DisplayData)  # checked before it is executed
        except protocol.MessageError as exc:
            self.refusals.note(exc.reason, topic_name, f"{self.identifier}: {exc}")
            return
        if command.action == PRESENT:
            answer = self._stale(topic_name, envelope) or await self._presented(envelope, command)
        elif command.action in PANEL_ACTIONS and self.panel is not None:
            answer = (
                self._stale(topic_name, envelope)
                or self._executed.answer(envelope.id)
                or await self._panel_command(envelope, command)
            )
        else:
            answer = self._answer(topic_name, envelope, command)
        _, payload = sign(self.spec, self.prefix, Channel.ACK, "ack", answer)
        # QoS 0 like the command: this signed ack is the end-to-end acknowledgement.
        await self._acknowledged(client.publish(self.topic(Channel.ACK), payload, qos=0))

    def _answer(self, topic_name: str, envelope: protocol.Envelope, command: CommandData) -> dict[str, Any]:
        """The ack: a stale command is refused in it (a platform with a wrong clock learns why), and
        a retried or replayed id gets its first answer again, never a second execution.
        """
        return (
            self._stale(topic_name, envelope)
            or self._executed.answer(envelope.id)
            or self._execute(envelope, command)
        )

    def _stale(self, topic_name: str, envelope: protocol.Envelope) -> dict[str, Any] | None:
        """The refusal of a command signed outside the freshness window, if it is."""
        try:
            protocol.check_fresh(envelope, self.command_max_age, self.command_max_age)
        except protocol.StaleMessage as exc:
            self.refusals.note(exc.reason, topic_name, f"{self.identifier}: {exc}")
            return {"command": envelope.id, "ok": False, "reason": exc.reason}
        return None

    async def _presented(self, envelope: protocol.Envelope, command: CommandData) -> dict[str, Any]:
        """The demo's (or a test's) stand-in for a visitor holding a pass QR to this reader."""
        verdict = await self.present(str(envelope.data.get("token", "")), command.door)
        refused = isinstance(verdict, passes.Refusal)
        return {"command": envelope.id, "ok": not refused, "reason": verdict.value if refused else ""}

    def _execute(self, envelope: protocol.Envelope, command: CommandData) -> dict[str, Any]:
        """Record the id on disk, then act: a crash in between loses one open, never doubles one."""
        act = self._actions().get(command.action)
        ack: dict[str, Any] = {"command": envelope.id, "ok": act is not None}
        if act is None:
            ack["reason"] = f"unsupported action {command.action!r}"
        self._executed.record(envelope.id, envelope.at.timestamp(), ack)
        if act is not None:
            act(envelope)
        return ack

    def _actions(self) -> dict[str, Callable[[protocol.Envelope], None]]:
        """What this kind of device does on command."""
        if self.spec.kind in SHOWS_NOTICES:
            return {CommandAction.DISPLAY: self._show, CommandAction.CLEAR: self._clear}
        return {CommandAction.OPEN: lambda envelope: self.opened.append(envelope.id)}

    async def _panel_command(self, envelope: protocol.Envelope, command: CommandData) -> dict[str, Any]:
        """A call's command: ring (a visitor at the panel), the phone's answer, or the hang-up."""
        data = envelope.data
        call = str(data.get("call", ""))
        ack: dict[str, Any] = {"command": envelope.id, "ok": True}
        self._executed.record(envelope.id, envelope.at.timestamp(), ack)  # before acting, as _execute
        if command.action == RING:
            await self.call(str(data.get("house", "")))
        elif command.action == CommandAction.ANSWER:
            if not await self.panel.answer(call, str(data.get("sdp", ""))):
                ack = {"command": envelope.id, "ok": False, "reason": "no_such_call"}
        elif not await self.panel.hang_up(call):
            ack = {"command": envelope.id, "ok": False, "reason": "no_such_call"}
        return ack

    async def call(self, house: str) -> str:
        """A visitor keys in flat ``house`` at this panel: it rings, with its WebRTC offer. The call's id."""
        if self.panel is None or self._client is None:
            raise aiomqtt.MqttError(f"{self.identifier} is no connected intercom panel")
        call, sdp = await self.panel.ring(house)
        data = CallData(call=call, action=CallAction.RING, house=house, sdp=sdp)
        await self._publish_event(self._client, EventType.CALL, msgspec.to_builtins(data))
        return call

    async def _gave_up(self, call: str) -> None:
        with contextlib.suppress(aiomqtt.MqttError):  # offline: the platform misses it on its own
            await self.hang_up(call)

    async def hang_up(self, call: str) -> None:
        """The visitor walks away: the panel ends the call and says so."""
        if self.panel is None or self._client is None:
            raise aiomqtt.MqttError(f"{self.identifier} is no connected intercom panel")
        await self.panel.hang_up(call)
        data = CallData(call=call, action=CallAction.HANGUP)
        await self._publish_event(self._client, EventType.CALL, msgspec.to_builtins(data))

    def _show(self, envelope: protocol.Envelope) -> None:
        shown = protocol.data_as(envelope, DisplayData)
        self.showing[shown.notice] = shown

    def _clear(self, envelope: protocol.Envelope) -> None:
        self.showing.pop(protocol.data_as(envelope, DisplayData).notice, None)

    async def present(self, token: str, door: str = "") -> passes.Claims | passes.Refusal:
        """A visitor shows a pass QR at this door: verified offline with the community's public key
        alone, the door opens or not, and the device reports it as an access event."""
        door_id = self.spec.doors.get(door)
        if self._pass_key is None or door_id is None:  # not provisioned for passes: it opens nothing with one
            verdict: passes.Claims | passes.Refusal = passes.Refusal.WRONG_DOOR
        else:
            verdict = passes.verify(token, self._pass_key, door_id, datetime.now(WUHAN))
        granted = isinstance(verdict, passes.Claims)
        data = AccessData(
            method=AccessMethod.QR_PASS,
            granted=granted,
            credential=f"pass:{verdict.pass_id}" if granted else "",
            door=door,
        )
        if self._client is None:
            raise aiomqtt.MqttError(f"{self.identifier} is not connected")
        # A refusal says why, beside the contract's fields (readers may add their own).
        reason = {} if granted else {"reason": verdict.value}
        await self._publish_event(self._client, EventType.ACCESS, msgspec.to_builtins(data) | reason)
        return verdict

    async def read_plate(self, plate: str, direction: Direction = Direction.IN) -> None:
        """A vehicle at this barrier: its camera reports the plate, and the platform decides."""
        if self._client is None:
            raise aiomqtt.MqttError(f"{self.identifier} is not connected")
        data = PlateData(plate=plate, direction=direction, color="blue", picture=f"sim:{uuid.uuid4().hex}")
        await self._publish_event(self._client, EventType.PLATE, msgspec.to_builtins(data))

    async def capture_face(
        self, image: bytes, direction: Direction = Direction.IN, door: str = "", **on_gate: Any
    ) -> str:
        """A person at this face gate: its camera sends the capture (JPEG or PNG bytes), and the
        platform decides; a gate matching on its own adds its decision (``match``, ``score``,
        ``granted``). The event's id."""
        if self._client is None:
            raise aiomqtt.MqttError(f"{self.identifier} is not connected")
        data = FaceData(image=base64.b64encode(image).decode(), direction=direction, door=door, **on_gate)
        return await self._publish_event(self._client, EventType.FACE, msgspec.to_builtins(data))

    async def sight(self, mac: str, kind: SightingKind = SightingKind.WIFI, rssi: int | None = None) -> str:
        """A phone (or an e-bike's tag) passing this probe: it reports the MAC. The event's id."""
        if self._client is None:
            raise aiomqtt.MqttError(f"{self.identifier} is not connected")
        data = msgspec.to_builtins(SightingData(mac=mac, kind=kind, rssi=rssi))
        return await self._publish_event(self._client, EventType.SIGHTING, data)

    async def _sightings(self, client: aiomqtt.Client) -> None:
        """Passing phones: random locally administered MACs, so no real phone's address is made up."""
        while True:
            await asyncio.sleep(self._jittered(self.event_interval))
            mac = ":".join(f"{b:02X}" for b in [0x02, *(self.rng.randrange(256) for _ in range(5))])
            await self.sight(mac, rssi=-self.rng.randint(40, 90))

    async def _plates(self, client: aiomqtt.Client) -> None:
        """Passing vehicles: made-up Wuhan plates, mostly unknown to the platform (held for the guard)."""
        while True:
            await asyncio.sleep(self._jittered(self.event_interval))
            plate = f"鄂A{self.rng.randrange(10**5):05d}"
            await self.read_plate(plate, self.rng.choice((Direction.IN, Direction.OUT)))

    async def _heartbeats(self, client: aiomqtt.Client) -> None:
        while True:
            await self._publish_event(client, EventType.HEARTBEAT, self._health())
            await asyncio.sleep(self.spec.heartbeat)

    def _health(self) -> dict[str, Any]:
        if self.battery is None:
            return {}
        if self.rng.random() < 0.05:
            self.battery = max(5, self.battery - 1)
        return {"battery": self.battery}

    async def _access_events(self, client: aiomqtt.Client) -> None:
        methods = itertools.cycle(ACCESS_METHODS[self.spec.kind])
        while True:
            await asyncio.sleep(self._jittered(self.event_interval))
            await self._publish_event(client, EventType.ACCESS, access_data(self.rng, next(methods)))

    async def _alarms(self, client: aiomqtt.Client) -> None:
        kind = ALARM_KINDS[self.spec.kind]
        while True:
            await asyncio.sleep(self._jittered(self.event_interval))
            if self.rng.random() < self.alarm_chance:
                await self._publish_event(client, EventType.ALARM, _alarm_data(kind, active=True))
                await asyncio.sleep(self._jittered(self.event_interval))
                await self._publish_event(client, EventType.ALARM, _alarm_data(kind, active=False))

    async def _readings(self, client: aiomqtt.Client) -> None:
        """A water meter's total (m³), growing by a household's draw per interval."""
        total = self.rng.uniform(1000, 5000)
        while True:
            await asyncio.sleep(self._jittered(self.event_interval))
            total += self.rng.uniform(0, 0.05)
            reading = ReadingData(meter=MeterKind.WATER, value=round(total, 3), unit="m³")
            await self._publish_event(client, EventType.READING, msgspec.to_builtins(reading))

    async def _publish_event(self, client: aiomqtt.Client, type: EventType, data: dict[str, Any]) -> str:
        event_id, payload = sign(self.spec, self.prefix, Channel.EVENT, type, data)
        await self._acknowledged(client.publish(self.topic(Channel.EVENT), payload, qos=1))
        return event_id

    def _jittered(self, seconds: float) -> float:
        return seconds * self.rng.uniform(0.5, 1.5)


class Simulator:
    """A fleet of simulated devices, each on its own MQTT connection."""

    def __init__(
        self,
        broker: Broker,
        devices: list[DeviceSpec],
        prefix: str = protocol.DEFAULT_PREFIX,
        *,
        event_interval: float = 5.0,
        seed: int = 0,
        alarm_chance: float = 0.01,  # per device and event interval
        state_dir: Path,  # where each device keeps the ids of the commands it executed
        command_max_age: float = COMMAND_MAX_AGE,
        ice_servers: list[dict[str, Any]] | None = None,  # intercom panels' STUN/TURN servers
        panel_give_up: float = GIVE_UP_SECONDS,  # an intercom panel ends a call nobody answered after this
    ) -> None:
        codes = [spec.code for spec in devices]
        if len(set(codes)) != len(codes):
            raise ValueError("device codes must be unique: kill() names a device by its code")
        self.refusals = RefusalLog(log, "simulated devices")
        self.devices = {
            spec.code: SimulatedDevice(
                spec,
                broker,
                prefix,
                event_interval,
                alarm_chance,
                seed,
                state_dir=state_dir,
                command_max_age=command_max_age,
                refusals=self.refusals,
                ice_servers=ice_servers,
                panel_give_up=panel_give_up,
            )
            for spec in devices
        }
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        """Connect every device; returns once each has announced itself online (bound it with a timeout)."""
        for code, device in self.devices.items():
            self._tasks[code] = asyncio.create_task(device.run(), name=device.identifier)
        await asyncio.gather(*(device.online.wait() for device in self.devices.values()))

    async def stop(self) -> None:
        """Disconnect cleanly; each device first publishes its offline state."""
        for task in self._tasks.values():
            task.cancel()
        outcomes = await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for code, outcome in zip(self._tasks, outcomes, strict=True):
            if isinstance(outcome, Exception):  # a bug, not a stop: cancellation is no Exception
                log.error("simulated device %s failed: %r", code, outcome)
        self._tasks.clear()
        self.refusals.flush()

    async def run(self) -> None:
        """Run until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def forget(self) -> None:
        """Clear the retained states the fleet left on the broker (after stop(); for tests and demos).

        Each device clears its own: no other account may write its state topic.
        """
        for device in self.devices.values():
            async with aiomqtt.Client(**client_options(device.broker)) as client:
                await client.publish(device.topic(Channel.STATE), b"", qos=1, retain=True)

    async def present(self, code: str, token: str, door: str = "") -> passes.Claims | passes.Refusal:
        """Show a visitor pass token at device ``code`` (see :meth:`SimulatedDevice.present`)."""
        return await self.devices[code].present(token, door)

    async def read_plate(self, code: str, plate: str, direction: Direction = Direction.IN) -> None:
        """A vehicle at barrier ``code`` (see :meth:`SimulatedDevice.read_plate`)."""
        await self.devices[code].read_plate(plate, direction)

    async def sight(
        self, code: str, mac: str, kind: SightingKind = SightingKind.WIFI, rssi: int | None = None
    ) -> str:
        """A MAC seen by probe ``code`` (see :meth:`SimulatedDevice.sight`)."""
        return await self.devices[code].sight(mac, kind, rssi)

    async def capture_face(
        self, code: str, image: bytes, direction: Direction = Direction.IN, **on_gate: Any
    ) -> str:
        """A person at face gate ``code`` (see :meth:`SimulatedDevice.capture_face`)."""
        return await self.devices[code].capture_face(image, direction, **on_gate)

    async def call(self, code: str, house: str) -> str:
        """A visitor at intercom panel ``code`` calls flat ``house`` (see :meth:`SimulatedDevice.call`)."""
        return await self.devices[code].call(house)

    async def kill(self, code: str) -> None:
        """Crash one device: its connection drops without a goodbye and the broker publishes its will."""
        self.devices[code].kill()
        task = self._tasks.pop(code, None)
        if task is None:
            return
        _, still_running = await asyncio.wait({task}, timeout=KILL_SECONDS)
        if still_running:  # it was still connecting: nothing to crash yet
            task.cancel()
            await asyncio.wait({task})


async def publish_events(
    broker: Broker, device: DeviceSpec, count: int, prefix: str = protocol.DEFAULT_PREFIX
) -> list[str]:
    """Publish ``count`` signed access events from ``device`` as fast as QoS 1 allows; their ids, in order.

    The envelopes are signed beforehand so that a benchmark measures the broker and the consumer.
    """
    rng = random.Random(f"burst:{device.code}")
    methods = itertools.cycle(ACCESS_METHODS.get(device.kind, KEYPAD_METHODS))
    signed = [
        sign(device, prefix, Channel.EVENT, EventType.ACCESS, access_data(rng, next(methods)))
        for _ in range(count)
    ]
    name = protocol.topic(prefix, device.community, device.code, Channel.EVENT)
    identifier = f"sim-{prefix}-{device.community}-{device.code}-burst"  # beside the device's own connection
    async with aiomqtt.Client(
        **client_options(device.logged_in(broker)),
        identifier=identifier,
        max_inflight_messages=BURST_IN_FLIGHT,
    ) as client:
        client.pending_calls_threshold = BURST_IN_FLIGHT  # a full window is the plan, not a warning
        payloads = iter(payload for _, payload in signed)

        async def send() -> None:  # each sender awaits one PUBACK at a time: a bounded window in flight
            for payload in payloads:
                await client.publish(name, payload, qos=1)

        async with asyncio.TaskGroup() as senders:
            for _ in range(min(BURST_IN_FLIGHT, count)):
                senders.create_task(send())
    return [message_id for message_id, _ in signed]
