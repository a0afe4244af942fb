"""The live stream: announced events reach every app process's open streams, resume by id, and only
the community's own staff may watch."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import msgspec
import pytest

from backend.live import stream
from backend.live.outbox import announce
from backend.live.tables import LiveEvent
from backend.live.wakeup import Wakeup
from backend.settings import Settings
from device_bridge import store
from roles import Role
from tests.background import in_background
from tests.brokers import free_port
from tests.conftest import ROOT
from tests.integration.test_bridge import eventually

DEMO_CODE = "123456"
SSE = {"Accept": "text/event-stream"}


class Sse(msgspec.Struct, frozen=True):
    id: int
    event: str
    data: dict


@contextlib.asynccontextmanager
async def anju_serve(settings: Settings, tmp_path, name: str, **env: str) -> AsyncIterator[str]:
    """`anju serve` as a process of its own, on the test's database and Redis, in demo mode (fixed code)."""
    port = free_port()
    environment = {
        **os.environ,
        "ANJU_DATABASE_URL": settings.database_url,
        "ANJU_DATABASE_POOL_SIZE": "2",
        "ANJU_REDIS_URL": settings.redis_url,
        "ANJU_REDIS_PREFIX": settings.redis_prefix,
        "ANJU_SECRET_KEY": settings.secret_key,
        "ANJU_VAR_DIR": str(tmp_path / name),
        "ANJU_MQTT_URL": settings.mqtt_url,
        "ANJU_MQTT_PREFIX": settings.mqtt_prefix,
        "ANJU_DEMO": "true",
        "ANJU_HOST": "127.0.0.1",
        "ANJU_PORT": str(port),
        **env,
    }
    log = (tmp_path / f"{name}.log").open("w")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backend", "serve", env=environment, cwd=ROOT, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:

            async def up() -> bool:
                assert process.returncode is None, (tmp_path / f"{name}.log").read_text()
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/api/health")).status_code == 200
                return False

            await eventually(up, seconds=30)
        yield url
    finally:
        process.terminate()
        await process.wait()
        log.close()


async def demo_sign_in(client: httpx.AsyncClient, phone: str) -> dict[str, str]:
    assert (await client.post("/api/auth/code", json={"phone": phone})).status_code == 202
    tokens = await client.post("/api/auth/token", json={"phone": phone, "code": DEMO_CODE})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


async def read_events(response: httpx.Response, into: list[Sse]) -> None:
    """Parse a server-sent event stream (the PWA's parser does the same) until it ends."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields and "id" in fields:
                into.append(
                    Sse(int(fields["id"]), fields.get("event", ""), msgspec.json.decode(fields["data"]))
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


@contextlib.asynccontextmanager
async def watching(client: httpx.AsyncClient, community: int, headers: dict, last_id: int | None = None):
    """An open stream whose events collect in the yielded list."""
    events: list[Sse] = []
    resume = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    url = f"/api/communities/{community}/live"
    async with client.stream("GET", url, headers={**headers, **SSE, **resume}, timeout=None) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async with in_background(read_events(response, events)):
            yield events


async def announced(community: int, topic: str, payload: dict) -> int:
    async with store.writer(LiveEvent._meta.db) as writer:
        return await announce(writer, community=community, topic=topic, payload=payload)


def ids(events: list[Sse]) -> list[int]:
    return [e.id for e in events]


async def test_two_app_processes_both_deliver_to_their_streams_and_a_stream_resumes_by_id(
    world, settings, tmp_path
):
    # With Redis the servers look at the table only every 60 s on their own: what reaches them in
    # time came through the Redis wake-up the committing process (this one) published. Without
    # Redis they poll, as they would in production.
    slow = {"ANJU_LIVE_POLL_SECONDS": "60"} if settings.redis_url else {}
    phone = world.phone(Role.WARDEN)
    async with (
        anju_serve(settings, tmp_path, "a", **slow) as url_a,
        anju_serve(settings, tmp_path, "b", **slow) as url_b,
        httpx.AsyncClient(base_url=url_a) as a,
        httpx.AsyncClient(base_url=url_b) as b,
    ):
        auth_a, auth_b = await demo_sign_in(a, phone), await demo_sign_in(b, phone)
        async with watching(a, world.home, auth_a) as on_a, watching(b, world.home, auth_b) as on_b:
            await asyncio.sleep(0.5)  # both streams subscribed (their first comment is sent on subscribing)
            first = await announced(world.home, "alarm", {"id": 1, "kind": "sos"})
            await announced(world.other, "alarm", {"id": 99})  # another community: on nobody's stream here
            second = await announced(world.home, "alarm", {"id": 2, "kind": "smoke"})
            await eventually(lambda: asyncio.sleep(0, len(on_a) >= 2 and len(on_b) >= 2), seconds=10)
            await asyncio.sleep(0.3)
            for events in (on_a, on_b):
                assert events == [
                    Sse(first, "alarm", {"id": 1, "kind": "sos"}),
                    Sse(second, "alarm", {"id": 2, "kind": "smoke"}),
                ]

        # B's board drops off; two events happen meanwhile; it comes back with the last id it saw.
        missed = [await announced(world.home, "alarm", {"id": n}) for n in (3, 4)]
        async with watching(b, world.home, auth_b, last_id=second) as resumed:
            await eventually(lambda: asyncio.sleep(0, len(resumed) >= 2))
            later = await announced(world.home, "alarm", {"id": 5})
            await eventually(lambda: asyncio.sleep(0, len(resumed) >= 3))
            await asyncio.sleep(0.3)
            assert ids(resumed) == [*missed, later]  # nothing lost, nothing twice
            assert [e.data["id"] for e in resumed] == [3, 4, 5]


async def test_refusals(world):
    url = f"/api/communities/{world.home}/live"
    anonymous = await world.client.get(url, headers=SSE)
    assert anonymous.status_code == 401
    for role in (Role.RESIDENT, Role.COMMUNITY_WORKER):
        refused = await world.client.get(url, headers={**SSE, **await world.headers(role)})
        assert refused.status_code == 403, role
    other = await world.client.get(
        f"/api/communities/{world.other}/live", headers={**SSE, **await world.headers(Role.WARDEN)}
    )
    assert other.status_code == 403
    assert other.json()["extra"]["code"] == "forbidden"


async def test_a_plain_request_is_answered_not_streamed_and_a_bad_last_event_id_refused(world):
    url = f"/api/communities/{world.home}/live"
    warden = await world.headers(Role.WARDEN)
    plain = await world.client.get(url, headers=warden)
    assert (plain.status_code, plain.json()["extra"]["code"]) == (406, "stream_only")
    for bad in ("abc", "-1", "1e3", "99999999999", "١٢".encode()):  # the last: digits, not ASCII
        answer = await world.client.get(url, headers={**warden, **SSE, "Last-Event-ID": bad})
        assert (answer.status_code, answer.json()["extra"]["code"]) == (422, "bad_last_event_id"), bad


@contextlib.asynccontextmanager
async def running_hub(settings: Settings, queue_size: int = 1000) -> AsyncIterator[stream.Hub]:
    """A hub of the test's own (the app's began tailing before the test wiped the tables)."""
    hub = stream.Hub(Wakeup(settings), poll_seconds=0.05, retention=timedelta(days=1), queue_size=queue_size)
    async with in_background(hub.run(), settle=0.2):
        yield hub


async def test_a_subscriber_that_falls_behind_is_dropped_and_the_others_keep_receiving(world, settings):
    async with running_hub(settings, queue_size=3) as hub:
        with hub.subscribe(world.home) as slow, hub.subscribe(world.home) as keeping_up:
            received = []

            async def consume() -> None:
                while (event := await keeping_up.next(5)) is not None:
                    received.append(event.id)

            consumer = asyncio.create_task(consume())
            sent = []
            for n in range(8):  # one at a time: a burst beyond the queue would drop anyone
                sent.append(await announced(world.home, "alarm", {"n": n}))
                await eventually(lambda: asyncio.sleep(0, received == sent))
            consumer.cancel()
            # The slow one got the first three, then its end: its client resumes from the table.
            assert [(await slow.next(1)).id for _ in range(3)] == sent[:3]
            with pytest.raises(stream.Dropped):
                await slow.next(1)
        resumed = [event.id async for event in stream.events_since(world.home, sent[2])]
        assert resumed == sent[3:]


async def test_an_event_committed_after_a_later_one_still_reaches_the_stream(world, settings):
    if not settings.database_url.startswith("postgres"):
        pytest.skip("SQLite commits one writer at a time: ids become visible in order")
    async with running_hub(settings) as hub, contextlib.AsyncExitStack() as stack:
        with hub.subscribe(world.home) as subscriber:
            slow_writer = await stack.enter_async_context(store.writer(LiveEvent._meta.db))
            earlier = await announce(slow_writer, community=world.home, topic="alarm", payload={"n": 1})
            later = await announced(world.home, "alarm", {"n": 2})  # commits first
            assert (await subscriber.next(5)).id == later
            await stack.aclose()  # now the earlier id commits
            assert (await subscriber.next(5)).id == earlier


async def test_old_events_are_pruned(world):
    kept = await announced(world.home, "alarm", {})
    old = await announced(world.home, "alarm", {})
    await LiveEvent.update({LiveEvent.created_at: LiveEvent.created_at - timedelta(days=2)}).where(
        LiveEvent.id == old
    )
    await stream.prune(timedelta(days=1))
    assert [row["id"] for row in await LiveEvent.select(LiveEvent.id)] == [kept]


async def test_an_idle_stream_sends_heartbeats_and_ends_when_its_time_is_up(world, settings):
    async with running_hub(settings) as hub:
        messages = [m async for m in stream.sse(hub, world.home, None, heartbeat=0.1, lifetime=0.45)]
    assert messages[0].comment == "connected"
    assert len(messages) > 2 and {m.comment for m in messages[1:]} == {"heartbeat"}
    assert all(m.data is None and m.id is None for m in messages)  # comments only: no event for the client
