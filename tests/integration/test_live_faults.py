"""Live delivery through outages: while alarms keep being announced, the serving process loses Redis,
then its database, then both; afterwards its open board stream has every event once, in order, and
each phone has every push once, with nobody restarted.

`anju serve` runs as a process whose Redis and PostgreSQL sit behind relays the test cuts; this
process commits the announcements (as the bridge does) straight to the database and Redis, so
events keep happening while the server is cut off. This process's own app reads nothing: its live
machinery is stopped, and the served process is the only tailer and push worker.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import httpx
import msgspec
import pytest

from backend.live.outbox import PushMessage, announce
from backend.live.tables import LiveEvent, PushOutbox
from backend.live.wakeup import Wakeup, installed
from device_bridge import store
from roles import Role
from tests.background import in_background
from tests.faults import relayed
from tests.integration.test_bridge import eventually
from tests.integration.test_live_push import account_id, subscribe
from tests.integration.test_live_stream import anju_serve, demo_sign_in, watching
from tests.pushservice import PushService

OUTAGE_SECONDS = 3.0
BETWEEN_SECONDS = 1.5
ANNOUNCE_EVERY = 0.02  # 50 alarms a second


@pytest.fixture
def settings(settings):
    if not (settings.database_url.startswith("postgres") and settings.redis_url):
        pytest.skip("outages of PostgreSQL and Redis")
    return msgspec.structs.replace(settings, push_allow_hosts="127.0.0.1")


@pytest.fixture
async def push_service():
    async with PushService().running() as service:
        yield service


async def keep_announcing(community: int, warden: int, sent: list[int], stop: asyncio.Event) -> None:
    """Alarm after alarm, each pushed to the warden; a number is sent once its transaction commits."""
    for number in itertools.count():
        if stop.is_set():
            return
        message = PushMessage(title="报警", body=str(number), tag=f"alarm:{number}")
        async with store.writer(LiveEvent._meta.db) as writer:
            await announce(
                writer,
                community=community,
                topic="alarm",
                payload={"n": number},
                push_to=[warden],
                push=message,
            )
        sent.append(number)
        await asyncio.sleep(ANNOUNCE_EVERY)


async def ready_names(client: httpx.AsyncClient, dependency: str) -> bool:
    answer = await client.get("/api/ready", timeout=5)
    return answer.status_code == 503 and dependency in answer.text


async def test_streams_and_pushes_lose_nothing_when_redis_and_the_database_go_away(
    world, settings, tmp_path, push_service
):
    await world.ctx.live.stop()  # the served process below is the only reader
    phone = push_service.browser()
    await subscribe(world, Role.WARDEN, phone, push_service)
    warden = await account_id(Role.WARDEN)
    sent: list[int] = []
    stop = asyncio.Event()
    async with (
        relayed(settings.database_url, 5432) as (database, database_url),
        relayed(settings.redis_url, 6379) as (redis, redis_url),
        anju_serve(
            settings,
            tmp_path,
            "served",
            ANJU_DATABASE_URL=database_url,
            ANJU_REDIS_URL=redis_url,
            ANJU_LIVE_POLL_SECONDS="1",
            ANJU_PUSH_ALLOW_HOSTS="127.0.0.1",
        ) as url,
        httpx.AsyncClient(base_url=url) as client,
        installed(Wakeup(settings)),  # this process's commits wake the served one through Redis
    ):
        auth = await demo_sign_in(client, world.phone(Role.WARDEN))
        async with watching(client, world.home, auth) as board:
            await asyncio.sleep(0.5)  # subscribed
            async with in_background(keep_announcing(world.home, warden, sent, stop)) as announcing:
                for cut in ([redis], [database], [redis, database]):
                    await asyncio.sleep(BETWEEN_SECONDS)
                    for relay in cut:
                        await relay.cut()
                    await asyncio.sleep(OUTAGE_SECONDS)
                    for name, relay in (("redis", redis), ("database", database)):
                        if relay in cut:
                            assert await ready_names(client, name), f"/api/ready did not name {name}"
                    for relay in cut:
                        await relay.restore()
                await asyncio.sleep(BETWEEN_SECONDS)
                stop.set()
                # Let the alarm in hand finish: cancelled between its commit and `sent`, it would
                # reach the board unlisted (seen once under CI's load).
                await asyncio.wait_for(announcing, 60)

            async def all_arrived() -> bool:
                return len(board) >= len(sent) and len(push_service.messages(phone)) >= len(sent)

            await eventually(all_arrived, seconds=60)
            await asyncio.sleep(1.0)  # anything doubled would arrive by now

    stored = (
        await LiveEvent.select(LiveEvent.id).where(LiveEvent.community == world.home).output(as_list=True)
    )
    assert [event.id for event in board] == sorted(stored)  # every event once, in order
    assert [event.data["n"] for event in board] == sent
    pushed = Counter(int(message["body"]) for message in push_service.messages(phone))
    assert sorted(pushed) == sent and set(pushed.values()) == {1}  # every push once
    assert await PushOutbox.count().where(PushOutbox.sent_at.is_null()) == 0
    assert len(sent) > 200, "the load was too light to mean anything"
