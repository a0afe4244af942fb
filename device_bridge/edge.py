"""The edge: a vendor gateway's MQTT output in, the signed Anju contract out.

Runs beside a Zigbee2MQTT or Frigate instance: each vendor message is translated by its
adapter, and each result is signed with the secret of the registered device of the same name
(a sensor's friendly_name, a camera's name) and published on that device's Anju topic, where
the bridge verifies and stores it like any other device's. Vendor devices that are not
registered are skipped and counted: registering a device is what admits it. Each device
publishes on a connection of its own, logged in with its own MQTT account, so the broker's ACL
holds for translated devices as for any other; the vendor's topics are read with ``source``.

The vendor's topics are read on a persistent session (session.py) and each message is acknowledged
only once its translations are published, so a broker restart costs a reconnect, not messages.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import aiomqtt

from device_bridge import protocol
from device_bridge.acl import device_password
from device_bridge.adapters import Translated, frigate
from device_bridge.adapters.zigbee2mqtt import Zigbee2MqttAdapter
from device_bridge.protocol import Channel, MessageError
from device_bridge.refusals import RefusalLog
from device_bridge.session import Session
from device_bridge.transport import Broker, client_options, low_latency

log = logging.getLogger("anju.edge")
Translate = Callable[[str, bytes], list[Translated]]
VENDORS = ("zigbee2mqtt", "frigate")


def translator(vendor: str, base: str) -> tuple[Translate, list[str]]:
    """The vendor's adapter and the topics it needs, under ``base``."""
    if vendor == "zigbee2mqtt":
        adapter = Zigbee2MqttAdapter(base)
        return adapter.translate, [f"{base}/#"]
    if vendor == "frigate":
        return (lambda topic, payload: frigate.translate(topic, payload, base=base)), [
            f"{base}/events",
            f"{base}/available",
        ]
    raise ValueError(f"unknown vendor {vendor!r}; expected one of {', '.join(VENDORS)}")


class Edge:
    def __init__(
        self,
        broker: Broker,
        prefix: str,
        community: str,
        secrets: dict[str, bytes],
        vendor: str,
        base: str | None = None,
        source: Broker | None = None,
        give_up_after: float | None = None,
    ) -> None:
        self.broker, self.prefix, self.community = broker, prefix, community
        self.source = source or broker  # where the vendor gateway publishes
        self.secrets = secrets  # device code → secret, for the community's registered devices
        self.translate, self.topics = translator(vendor, base or vendor)
        self.counts: Counter[str] = Counter()
        self._devices: dict[str, aiomqtt.Client] = {}
        self.refusals = RefusalLog(log, "edge")  # vendor topics are open to the gateway's neighbours too
        self.session = Session(
            f"edge {community}",
            self.source,
            identifier=f"anju-edge-{prefix}-{community}-{vendor}",
            subscriptions=[(name, 1) for name in self.topics],
            persistent=True,
            manual_ack=True,
            give_up_after=give_up_after,
            log=log,
        )

    async def run(self) -> None:
        """Until cancelled; raises GaveUp after ``give_up_after`` seconds without a broker."""
        log.info("edge translating %s for community %s", ", ".join(self.topics), self.community)
        try:
            await self.session.run(self._serve)
        finally:
            self.refusals.flush()

    async def _serve(self, client: aiomqtt.Client) -> None:
        """One connection's worth: device connections live as long as the vendor's one."""
        async with contextlib.AsyncExitStack() as connections:
            self._devices = {}
            async for message in self.session.messages(client):
                for item in self._translated(str(message.topic), message.payload):
                    await self._publish(connections, item)
                self.session.ack(client, message.mid, message.qos)  # forwarded: the gateway's copy can go

    def _translated(self, topic_name: str, payload: bytes) -> list[Translated]:
        try:
            return self.translate(topic_name, payload)
        except MessageError as exc:
            self.counts["malformed"] += 1
            self.refusals.note("malformed", topic_name, str(exc))
            return []

    async def _publish(self, connections: contextlib.AsyncExitStack, item: Translated) -> None:
        secret = self.secrets.get(item.device)
        if secret is None:
            self.counts["unregistered"] += 1
            self.refusals.note("unregistered", item.device, "no registered device of that code")
            return
        state = item.type == "state"
        name = protocol.topic(
            self.prefix, self.community, item.device, Channel.STATE if state else Channel.EVENT
        )
        payload = protocol.encode(
            secret, name, item.id, item.type, item.data, datetime.fromisoformat(item.ts)
        )
        client = await self._device_client(connections, item.device, secret)
        await client.publish(name, payload, qos=1, retain=state)
        self.counts["forwarded"] += 1

    async def _device_client(
        self, connections: contextlib.AsyncExitStack, code: str, secret: bytes
    ) -> aiomqtt.Client:
        """The device's own connection, opened at its first message and kept until the edge stops."""
        client = self._devices.get(code)
        if client is None:
            account = self.broker.as_user(code, device_password(secret))
            client = aiomqtt.Client(
                **client_options(account), identifier=f"edge-{self.prefix}-{self.community}-{code}"
            )
            await connections.enter_async_context(client)
            low_latency(client)
            self._devices[code] = client
        return client
