"""The embedded MQTT broker (amqtt, MQTT 3.1.1) for the no-configuration default and the demo.

It enforces the same policy as the Mosquitto files ``anju mqtt-auth`` writes (acl.py): no
anonymous clients, each device on its own topics, the platform's account on all of them.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.session import Session

from device_bridge.acl import Policy

for noisy in ("amqtt", "transitions"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


class PolicyBroker(Broker):
    """Admits only the policy's accounts, each inside its own topic filters.

    Checked by overriding the broker's two checks rather than through amqtt's plugins: it runs
    topic plugins as tasks for every delivery too, and its broadcast loop, suspended there,
    breaks when a client subscribes meanwhile ("dictionary changed size during iteration": the
    message is lost to the remaining subscribers).
    """

    def __init__(self, config: dict[str, Any], policy: Policy) -> None:
        super().__init__(config)
        self._policy = policy

    async def _authenticate(self, session: Session, _: Any) -> bool:
        return await self._policy.authenticate(session.username, session.password)

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        if action is Action.SUBSCRIBE:
            return self._policy.may_read(session.username, topic)
        if action is Action.PUBLISH:
            return self._policy.may_write(session.username, topic)
        return True  # RECEIVE: only through a subscription that was checked

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        """Only for a filter this session holds: amqtt replays, to every client that connects, the
        retained messages of every filter *any* client subscribed to (the app got every device's
        retained state on its ack subscription, and a device other devices' states past the ACL)."""
        holders = self._subscriptions.get(subscription[0], ())
        if any(holder.client_id == session.client_id for holder, _ in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)


@contextlib.asynccontextmanager
async def embedded_broker(port: int, policy: Policy, host: str = "127.0.0.1"):
    """Serve MQTT on ``host:port`` for the duration of the block; loopback only by default."""
    broker = PolicyBroker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 2000}},
            "plugins": {},  # no anonymous-access plugin
        },
        policy,
    )
    await broker.start()
    try:
        yield broker
    finally:
        await broker.shutdown()
