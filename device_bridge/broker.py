"""The embedded MQTT broker (amqtt, MQTT 3.1.1) for the no-configuration default and the demo."""

from __future__ import annotations

import contextlib
import logging

from amqtt.broker import Broker

for noisy in ("amqtt", "transitions"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.asynccontextmanager
async def embedded_broker(port: int, host: str = "127.0.0.1"):
    """Serve MQTT on ``host:port`` for the duration of the block; loopback only by default."""
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 2000}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield broker
    finally:
        await broker.shutdown()
