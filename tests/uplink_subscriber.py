"""The police platform's MQTT consumer of the uplink, for tests and bench/uplink.py: a persistent
MQTT 5 session on ``<prefix>/#`` that verifies each message's signature (its user properties
``X-Anju-Timestamp`` and ``X-Anju-Signature`` over ``timestamp + "." + body``) and counts each
record key it received."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
from collections import Counter

import msgspec

from device_bridge.session import Session
from device_bridge.transport import parse_url

CONNECT_SECONDS = 10.0


class Subscriber:
    def __init__(self, url: str, prefix: str, secret: str) -> None:
        self.session = Session(
            "platform",
            parse_url(url),
            identifier=f"platform-{secrets.token_hex(4)}",
            subscriptions=[(f"{prefix}/#", 1)],
            persistent=True,
            mqtt5=True,
        )
        self.secret = secret.encode()
        self.deliveries: Counter = Counter()  # record key → times received
        self.rows: dict[str, dict] = {}
        self.topics: set[str] = set()
        self.bad_signatures = 0

    def repeats(self) -> dict[str, int]:
        return {key: count for key, count in self.deliveries.items() if count > 1}

    async def serve(self, client) -> None:
        async for message in self.session.messages(client):
            properties = dict(getattr(message.properties, "UserProperty", []))
            stamp, body = properties.get("X-Anju-Timestamp", ""), message.payload
            expected = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, properties.get("X-Anju-Signature", "")):
                self.bad_signatures += 1
                continue
            self.topics.add(str(message.topic))
            for record in msgspec.json.decode(body)["records"]:
                self.deliveries[record["key"]] += 1
                self.rows.setdefault(record["key"], record["row"])


@contextlib.asynccontextmanager
async def subscribed(url: str, prefix: str, secret: str):
    """A connected :class:`Subscriber` until the block ends."""
    subscriber = Subscriber(url, prefix, secret)
    task = asyncio.create_task(subscriber.session.run(subscriber.serve))
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            while not subscriber.session.connected:
                await asyncio.sleep(0.05)
        yield subscriber
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
