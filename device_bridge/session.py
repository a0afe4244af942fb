"""A reconnecting MQTT session: the bridge, the edge, door commands and simulated devices stay connected.

One loop per session: connect (retrying with a doubling, jittered delay), subscribe again (a broker
that lost its state has forgotten every subscription), serve the connection until it is lost, and
start over. A persistent session (``persistent=True``: MQTT 5 clean start off with a session
expiry, MQTT 3.1.1 clean session off) keeps the messages that arrive while the client is away; the
broker hands them over at the next connection. Only changes are logged: connected, lost (with the
reason), reconnected after N s. ``give_up_after`` bounds how long a worker stays without a broker
before :class:`GaveUp` ends it, so that its supervisor restarts it (and someone notices).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttCodeError, MqttConnectError
from paho.mqtt.client import MQTTv5, MQTTv311
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device_bridge.retry import RETRY_CAP, RETRY_FIRST, backoff
from device_bridge.transport import Broker, client_options, low_latency

SESSION_EXPIRY_SECONDS = 3600  # a worker back within the hour finds the events it missed waiting
# Refusals a retry cannot cure: bad user name or password, not authorised (MQTT 3.1.1 and 5 codes).
REFUSED_FOR_GOOD = frozenset({4, 5, 0x86, 0x87})
Serve = Callable[[aiomqtt.Client], Awaitable[None]]


class GaveUp(RuntimeError):
    """A worker could not go on (no broker, no database) for longer than its bound: exit non-zero."""


class Session:
    """Connects, resubscribes and serves again after every loss; liveness readable at any time."""

    def __init__(
        self,
        name: str,
        broker: Broker,
        *,
        identifier: str | None = None,
        subscriptions: Sequence[tuple[str, int]] = (),
        persistent: bool = False,
        mqtt5: bool = False,
        receive_maximum: int | None = None,
        manual_ack: bool = False,
        give_up_after: float | None = None,
        will: Callable[[], aiomqtt.Will | None] | None = None,
        announce: bool = True,
        log: logging.Logger | None = None,
        **options: Any,
    ) -> None:
        if persistent and not identifier:
            raise ValueError("a persistent session needs a stable client identifier")
        self.name, self.broker, self.identifier = name, broker, identifier
        self.subscriptions = list(subscriptions)
        self.persistent, self.mqtt5, self.receive_maximum = persistent, mqtt5, receive_maximum
        self.manual_ack, self.give_up_after, self._will = manual_ack, give_up_after, will
        self._options, self._log = options, log or logging.getLogger("anju.mqtt")
        self._announce = announce  # log the first connection at INFO (a fleet of devices does not)
        self.client: aiomqtt.Client | None = None  # the live connection, None while away
        self.reconnects = 0
        self.last_message_at: float | None = None  # wall-clock time of the last message received
        self._down_since: float | None = None  # monotonic; None while connected or before the first try
        self._ever_connected = False
        self._warned = False  # this outage has been logged

    @property
    def connected(self) -> bool:
        return self.client is not None

    @property
    def down_for(self) -> float:
        """Seconds without a connection (0 while connected)."""
        return 0.0 if self._down_since is None else time.monotonic() - self._down_since

    def heard(self) -> None:
        self.last_message_at = time.time()

    async def messages(self, client: aiomqtt.Client):
        """The connection's messages, noting each arrival; ends the connection with MqttError when lost."""
        async for message in client.messages:
            self.heard()
            yield message

    async def run(self, serve: Serve) -> None:
        """Connect and ``serve(client)`` again after every loss (MqttError), until ``serve`` returns.

        Raises :class:`GaveUp` past ``give_up_after`` without a broker, or when the broker refuses us.
        """
        delay = RETRY_FIRST
        self._down_since = time.monotonic()
        while True:
            try:
                async with self._client() as client:
                    await self._open(client)
                    delay = RETRY_FIRST
                    await serve(client)
                return  # served to the end: the owner stops
            except MqttConnectError as exc:
                if _code(exc) in REFUSED_FOR_GOOD:
                    raise GaveUp(f"{self.name}: the broker refuses us ({exc}); check the account") from exc
                reason = str(exc)
            except aiomqtt.MqttError as exc:
                reason = str(exc) or type(exc).__name__
            finally:
                was_up = self._close()
            self._lost(reason, was_up)
            wait, delay = backoff(delay)
            await asyncio.sleep(wait)

    def _client(self) -> aiomqtt.Client:
        will = self._will() if self._will else None
        options = client_options(self.broker) | {"identifier": self.identifier, "will": will} | self._options
        if not self.mqtt5:
            return aiomqtt.Client(**options, protocol=MQTTv311, clean_session=not self.persistent)
        properties = Properties(PacketTypes.CONNECT)
        if self.receive_maximum:
            properties.ReceiveMaximum = self.receive_maximum
        if self.persistent:
            properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        return aiomqtt.Client(
            **options, protocol=MQTTv5, properties=properties, clean_start=not self.persistent
        )

    async def _open(self, client: aiomqtt.Client) -> None:
        low_latency(client)
        if self.manual_ack:
            client._client.manual_ack_set(True)  # ack only after commit (paho's public switch)
        for topic, qos in self.subscriptions:  # every time: a restarted broker may have forgotten them
            await client.subscribe(topic, qos=qos)
        where = f"{self.broker.host}:{self.broker.port}"
        if self._ever_connected:
            self.reconnects += 1
        if self._warned:  # an outage was logged: say it is over
            self._log.info("%s: broker %s reachable again after %.1f s", self.name, where, self.down_for)
        else:
            self._log.log(
                logging.INFO if self._announce else logging.DEBUG, "%s: connected to %s", self.name, where
            )
        self._ever_connected, self._warned, self._down_since, self.client = True, False, None, client

    def _close(self) -> bool:
        """Forget the connection; whether there was one."""
        was_up = self.client is not None
        if was_up:
            self._down_since = time.monotonic()
        self.client = None
        return was_up

    def _lost(self, reason: str, was_up: bool) -> None:
        """One WARNING per outage; each further failed attempt only at DEBUG."""
        if was_up:
            self._log.warning("%s: broker unreachable, connection lost (%s); reconnecting", self.name, reason)
        elif not self._warned:
            self._log.warning(
                "%s: broker unreachable (%s); retrying every %g s at most", self.name, reason, RETRY_CAP
            )
        else:
            self._log.debug("%s: broker still unreachable (%s)", self.name, reason)
        self._warned = True
        if self.give_up_after is not None and self.down_for > self.give_up_after:
            raise GaveUp(f"{self.name}: no broker for {self.down_for:.0f} s ({reason})")

    def ack(self, client: aiomqtt.Client, mid: int, qos: int) -> None:
        """Acknowledge a message on the connection that received it; on a newer one the mid means another message."""
        if client is self.client:
            client._client.ack(mid, qos)


def _code(exc: MqttCodeError) -> int | None:
    return getattr(exc.rc, "value", exc.rc)
