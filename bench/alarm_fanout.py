"""A button press fanned out: MQTT event → web push delivered and → board stream event, p50/p99
(goal: p99 < 1 s) with 1 000 push subscriptions and 100 open board streams.

Runs the server and a bridge worker (no simulated devices: nothing else raises alarms) against a fresh PostgreSQL database, a Mosquitto of its own
and Redis (when ANJU_BENCH_REDIS_URL, default the local one, answers). A local push service
(tests/pushservice.py) plays the browser vendors' part: it checks each request's VAPID signature and
decrypts it. The subscriptions are inserted directly for the accounts a press is routed to (police,
wardens, the flat's residents: read from the outbox of a warm-up press), all pointing at it. 100
board streams are opened as the community's warden. Then the demo flat's SOS button presses, one
press after the previous one has reached every subscription and every stream.

    .venv/bin/python bench/alarm_fanout.py [--presses 20] [--subscriptions 1000] [--streams 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from pathlib import Path

import aiomqtt
import asyncpg
import httpx
import msgspec
import redis.asyncio as redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.keys import Keys  # noqa: E402
from backend.seed import demo_phone  # noqa: E402
from backend.settings import from_env  # noqa: E402
from bench._harness import (  # noqa: E402
    anju,
    background,
    environment,
    fresh_database,
    mosquitto,
    percentile,
    wait_for_server,
)
from device_bridge import protocol  # noqa: E402
from device_bridge.acl import device_password  # noqa: E402
from device_bridge.protocol import Channel  # noqa: E402
from device_bridge.transport import client_options  # noqa: E402
from roles import Role  # noqa: E402
from tests.pushservice import PushService  # noqa: E402

REDIS = os.environ.get("ANJU_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BUTTON = "sos-1"  # the demo flat's paired SOS button
GOAL_SECONDS = 1.0


class TimedPushService(PushService):
    """The test push service, noting when each message for an alarm arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = {}  # by the message's tag: alarm-{id}

    async def _push(self, request):
        response = await super()._push(request)
        if response.status == 201:
            self.arrivals.setdefault(self.received[-1].message["tag"], []).append(time.perf_counter())
        return response


async def redis_url() -> str:
    """Redis when it answers; the fan-out then wakes readers at once instead of their 0.25 s poll."""
    with contextlib.suppress(OSError, redis.RedisError):
        client = redis.from_url(REDIS)
        try:
            await asyncio.wait_for(client.ping(), 2)
            return REDIS
        finally:
            await client.aclose()
    return ""


class Button:
    """Presses the button as the device does: its own MQTT account, its signed `alarm` event."""

    def __init__(self, env: dict[str, str], database: str) -> None:
        self.settings = from_env(env)
        self.database = database

    async def prepare(self) -> None:
        connection = await asyncpg.connect(self.database)
        try:
            row = await connection.fetchrow(
                "SELECT d.code, d.secret_sealed, c.code AS community FROM device d "
                "JOIN community c ON c.id = d.community WHERE c.id = 1 AND d.code LIKE $1",
                f"%-{BUTTON}",
            )
        finally:
            await connection.close()
        self.secret = Keys(self.settings.secret()).unseal(row["secret_sealed"]).encode()
        self.topic = protocol.topic(self.settings.mqtt_prefix, row["community"], row["code"], Channel.EVENT)
        self.broker = self.settings.broker.as_user(row["code"], device_password(self.secret))

    async def press(self) -> float:
        payload = protocol.encode(self.secret, self.topic, uuid.uuid4().hex, "alarm", {"kind": "emergency"})
        async with aiomqtt.Client(**client_options(self.broker)) as client:
            started = time.perf_counter()
            await client.publish(self.topic, payload, qos=1)
        return started


async def routed_accounts(connection: asyncpg.Connection) -> list[int]:
    """Whom the warm-up press was pushed to (its outbox rows), once the bridge has raised it."""
    query = (
        "SELECT DISTINCT o.account FROM push_outbox o JOIN alarm a ON o.message->>'tag' = 'alarm-' || a.id "
        "WHERE a.type = 'emergency'"
    )
    deadline = time.monotonic() + 30
    while not (rows := await connection.fetch(query)):
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up press raised no alarm")
        await asyncio.sleep(0.1)
    return [row["account"] for row in rows]


async def subscribe(database: str, push: PushService, count: int) -> int:
    """``count`` subscriptions spread over the accounts the warm-up press was pushed to."""
    connection = await asyncpg.connect(database)
    try:
        accounts = await routed_accounts(connection)
        rows = []
        for number in range(count):
            subscription = push.browser().subscription(push.url)
            keys = subscription["keys"]
            rows.append(
                (accounts[number % len(accounts)], subscription["endpoint"], keys["p256dh"], keys["auth"])
            )
        await connection.executemany(
            "INSERT INTO push_subscription (account, endpoint, p256dh, auth, created_at) VALUES ($1, $2, $3, $4, now())",
            rows,
        )
        return len(accounts)
    finally:
        await connection.close()


class Boards:
    """Open board streams, noting when each first saw each new alarm."""

    def __init__(self) -> None:
        self.arrivals: dict[int, list[float]] = {}
        self.open = 0

    async def watch(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        async with client.stream("GET", "/api/communities/1/live", headers=headers) as response:
            response.raise_for_status()
            self.open += 1
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    alarm = msgspec.json.decode(line[5:])
                    if (
                        alarm.get("type") == "emergency"
                        and alarm.get("state") == "new"
                        and alarm.get("signals") == 1
                    ):
                        self.arrivals.setdefault(alarm["id"], []).append(time.perf_counter())


async def signed_in(client: httpx.AsyncClient, role: Role) -> dict[str, str]:
    phone = demo_phone(role)
    await client.post("/api/auth/code", json={"phone": phone})
    tokens = (await client.post("/api/auth/token", json={"phone": phone, "code": "123456"})).json()
    return {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "text/event-stream"}


async def until(done, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        await asyncio.sleep(0.005)


async def one_press(
    button: Button, boards: Boards, push: TimedPushService, args
) -> tuple[list[float], list[float]]:
    """One press, until it has reached every stream and every subscription: the latencies of each."""
    known = set(boards.arrivals)
    started = await button.press()
    await until(lambda: set(boards.arrivals) - known)
    [alarm] = set(boards.arrivals) - known
    tag = f"alarm-{alarm}"
    await until(lambda: len(boards.arrivals[alarm]) == args.streams)
    await until(lambda: len(push.arrivals.get(tag, [])) == args.subscriptions)
    return [t - started for t in boards.arrivals[alarm]], [t - started for t in push.arrivals[tag]]


async def run(env: dict[str, str], database: str, args) -> tuple[list[float], list[float], list[float]]:
    push = TimedPushService()
    button = Button(env, database)
    boards = Boards()
    limits = httpx.Limits(max_connections=args.streams + 10)
    async with (
        push.running(),
        httpx.AsyncClient(base_url=env["ANJU_PUBLIC_URL"], timeout=None, limits=limits) as client,
    ):
        await button.prepare()
        await button.press()  # warm-up: tells who a press is pushed to
        accounts = await subscribe(database, push, args.subscriptions)
        headers = await signed_in(client, Role.WARDEN)
        watchers = [asyncio.create_task(boards.watch(client, headers)) for _ in range(args.streams)]
        await until(lambda: boards.open == args.streams)
        print(
            f"{args.subscriptions} push subscriptions over {accounts} accounts, {args.streams} board streams; "
            f"PostgreSQL, {env['ANJU_MQTT_URL']}, Redis {env.get('ANJU_REDIS_URL') or 'off (polling)'}"
        )
        pushed, streamed, last_push = [], [], []
        for _ in range(args.presses):
            to_boards, to_browsers = await one_press(button, boards, push, args)
            streamed += to_boards
            pushed += to_browsers
            last_push.append(max(to_browsers))
        for watcher in watchers:
            watcher.cancel()
        if push.refused:
            print(f"push service refused {len(push.refused)}: {push.refused[:3]}")
        return pushed, streamed, last_push


def report(label: str, latencies: list[float]) -> None:
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    verdict = "meets" if p99 < GOAL_SECONDS else "misses"
    print(
        f"{label:<34} {len(latencies):6d}   p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   "
        f"max {max(latencies) * 1000:7.1f} ms   ({verdict} the 1 s p99 goal)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=100)
    args = parser.parse_args()
    with fresh_database() as database, mosquitto() as broker:
        env = environment(
            database,
            broker,
            ANJU_REDIS_URL=asyncio.run(redis_url()),
            ANJU_REDIS_PREFIX=f"anjubench{uuid.uuid4().hex[:6]}:",
            ANJU_PUSH_ALLOW_HOSTS="127.0.0.1",  # the local push service
            ANJU_ALARM_FOLD_SECONDS="0.001",  # each press its own alarm, so each is pushed
        )
        anju("seed", env)
        with background("serve", "bridge --worker bench", env=env):
            wait_for_server(env["ANJU_PUBLIC_URL"])
            pushed, streamed, last_push = asyncio.run(run(env, database, args))
    report("press → board stream event", streamed)
    report("press → push delivered (each)", pushed)
    report("press → last of its pushes", last_push)


if __name__ == "__main__":
    main()
