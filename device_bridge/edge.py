"""The edge: a vendor gateway's MQTT output in, the signed Anju contract out.

Runs beside a Zigbee2MQTT or Frigate instance: each vendor message is translated by its
adapter, and each result is signed with the secret of the registered device of the same name
(a sensor's friendly_name, a camera's name) and published on that device's Anju topic, where
the bridge verifies and stores it like any other device's. Vendor devices that are not
registered are skipped and counted: registering a device is what admits it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import aiomqtt

from device_bridge import protocol
from device_bridge.adapters import Translated, frigate
from device_bridge.adapters.zigbee2mqtt import Zigbee2MqttAdapter
from device_bridge.protocol import Channel, MessageError
from device_bridge.refusals import RefusalLog
from device_bridge.transport import low_latency

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
        host: str,
        port: int,
        prefix: str,
        community: str,
        secrets: dict[str, bytes],
        vendor: str,
        base: str | None = None,
    ) -> None:
        self.host, self.port, self.prefix, self.community = host, port, prefix, community
        self.secrets = secrets  # device code → secret, for the community's registered devices
        self.translate, self.topics = translator(vendor, base or vendor)
        self.counts: Counter[str] = Counter()
        self.refusals = RefusalLog(log, "edge")  # vendor topics are open to the gateway's neighbours too

    async def run(self) -> None:
        async with aiomqtt.Client(self.host, self.port) as client:
            low_latency(client)
            for name in self.topics:
                await client.subscribe(name, qos=1)
            log.info("edge translating %s for community %s", ", ".join(self.topics), self.community)
            try:
                async for message in client.messages:
                    for item in self._translated(str(message.topic), message.payload):
                        await self._publish(client, item)
            finally:
                self.refusals.flush()

    def _translated(self, topic_name: str, payload: bytes) -> list[Translated]:
        try:
            return self.translate(topic_name, payload)
        except MessageError as exc:
            self.counts["malformed"] += 1
            self.refusals.note("malformed", topic_name, str(exc))
            return []

    async def _publish(self, client: aiomqtt.Client, item: Translated) -> None:
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
        await client.publish(name, payload, qos=1, retain=state)
        self.counts["forwarded"] += 1
