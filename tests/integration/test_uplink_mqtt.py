"""The platform uplink over MQTT (``ANJU_UPLINK_URL=mqtt://host:port/topic/prefix``): records from
real flows reach a subscriber on a real Mosquitto exactly once, through a broker outage, each
batch one QoS 1 message on ``<prefix>/<table>`` signed in its MQTT 5 user properties.

The broker is the test's own (tests/brokers.py), persistent as the README recommends, so that
it can be stopped and started; the subscriber holds a persistent session on it, as the police
platform's consumer would, and verifies every message's signature.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter

import msgspec
import pytest

from tests.brokers import mosquitto_process
from tests.integration.test_uplink import SECRET, button_alarm, rows, status, until
from tests.uplink_subscriber import subscribed


@pytest.fixture
def broker():
    with mosquitto_process(persistent=True) as process:
        yield process


@pytest.fixture
def prefix() -> str:
    return f"anju-test-{secrets.token_hex(4)}/uplink"


@pytest.fixture
def settings(settings, broker, prefix, request):
    changes = {
        "uplink_url": f"{broker.url}/{prefix}",
        "uplink_secret": SECRET,
        "uplink_timeout_seconds": 3.0,
        "uplink_retry_seconds": 0.05,
        "uplink_retry_max_seconds": 0.4,
        "live_poll_seconds": 0.2,
    }
    return msgspec.structs.replace(settings, **{**changes, **getattr(request, "param", {})})


async def test_records_reach_the_subscriber_once_each_through_a_broker_outage(world, broker, prefix):
    async with subscribed(broker.url, prefix, SECRET) as subscriber:
        produced = [await button_alarm(world, "sos-1", f"mqtt-up-{n}") for n in range(2)]
        await until(_none_pending, "sent while the broker is up")
        broker.stop()  # down: records wait in the outbox
        produced += [await button_alarm(world, "sos-1", f"mqtt-down-{n}") for n in range(3)]
        await until(_all_tried, "every row tried while the broker is down")
        during = await status(world)
        assert during["pending"] == 3 and during["last_failure"] == "MQTT: no broker"
        broker.start()
        await until(_none_pending, "the outbox drained")
        expected = {f"emergency_alarm/alarm:{alarm_id}" for alarm_id in produced}
        await until(lambda: asyncio.sleep(0, set(subscriber.deliveries) == expected), "every record received")
        await asyncio.sleep(0.5)  # a moment more: nothing arrives twice
    assert subscriber.deliveries == Counter(dict.fromkeys(expected, 1))
    assert subscriber.bad_signatures == 0 and subscriber.topics == {f"{prefix}/emergency_alarm"}
    row = subscriber.rows[f"emergency_alarm/alarm:{produced[-1]}"]
    assert row["BJLX"] == "紧急报警" and row["CLJG_MC"] == "已到场处置"
    assert {r["state"] for r in await rows()} == {"sent"}


async def _none_pending() -> bool:
    return not await rows("pending")


async def _all_tried() -> bool:
    pending = await rows("pending")
    return len(pending) == 3 and all(r["attempts"] >= 1 and r["last_error"] for r in pending)


@pytest.mark.parametrize("settings", [{"uplink_secret": "a-wrong-secret-" + "w" * 24}], indirect=True)
async def test_a_message_signed_with_another_secret_fails_the_subscribers_check(world, broker, prefix):
    """The signature covers the body: the subscriber takes nothing signed with another secret."""
    async with subscribed(broker.url, prefix, SECRET) as subscriber:
        await button_alarm(world, "sos-1", "mqtt-wrong")
        await until(lambda: asyncio.sleep(0, subscriber.bad_signatures > 0), "the message refused")
    assert not subscriber.deliveries
