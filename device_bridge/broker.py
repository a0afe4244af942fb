"""The embedded MQTT broker (amqtt, MQTT 3.1.1) for the no-configuration default and the demo.

It enforces the same policy as the Mosquitto files ``anju mqtt-auth`` writes (acl.py): no
anonymous clients, each device on its own topics, the platform's account on all of them.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from device_bridge.acl import Policy

for noisy in ("amqtt", "transitions"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclass
class PolicyConfig:
    policy: Any = None  # an acl.Policy (dacite would copy a typed dataclass field, losing reloads)


class PolicyAuthPlugin(BaseAuthPlugin):
    """Admits only the policy's accounts, by user name and password."""

    Config = PolicyConfig

    async def authenticate(self, *, session: Session) -> bool:
        return await self.config.policy.authenticate(session.username, session.password)


class PolicyTopicPlugin(BaseTopicPlugin):
    """Subscriptions and publications inside the account's own topic filters only."""

    Config = PolicyConfig

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        username = session.username if session else None
        if action is Action.SUBSCRIBE:
            return self.config.policy.may_read(username, topic or "")
        if action is Action.PUBLISH:
            return self.config.policy.may_write(username, topic or "")
        return True  # RECEIVE: only through a subscription that was checked


@contextlib.asynccontextmanager
async def embedded_broker(port: int, policy: Policy, host: str = "127.0.0.1"):
    """Serve MQTT on ``host:port`` for the duration of the block; loopback only by default."""
    plugin_config = {"policy": policy}
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 2000}},
            "plugins": {
                f"{__name__}.PolicyAuthPlugin": plugin_config,
                f"{__name__}.PolicyTopicPlugin": plugin_config,
            },
        }
    )
    await broker.start()
    try:
        yield broker
    finally:
        await broker.shutdown()
