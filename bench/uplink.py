"""The uplink: records/s through the outbox to a local endpoint, and how the lag drains after an outage.

In-process against a fresh database (PostgreSQL by default, ``--sqlite`` for a file of its own),
migrated with ``anju migrate``. ``--target`` picks the endpoint:

- ``http`` (default): tests/uplink_receiver.py, which checks every signature and applies each key once;
- ``mqtt``: a private Mosquitto (tests/brokers.py) and a persistent subscriber checking every
  signature (tests/uplink_subscriber.py); the outage stops the broker;
- ``viid``: the 视图库 stub (tests/viid_stub.py: digest-auth registration, keepalive, shapes); records
  are ``FaceObject``s each with a 6 KB JPEG capture; the outage forgets the registration too.

Records are valid ``emergency_alarm`` rows (or 视图库 faces), enqueued 100 per transaction as the
producers would (``outbox.enqueue``).

1. Throughput: ``--records`` rows enqueued, then the sender drains them: records/s end to end.
2. Outage: the target is down (connections refused) for ``--outage`` seconds while records are
   produced at ``--rate`` per second; then it comes back. Printed: the lag when it came back, the
   time until nothing is pending, the lag every second meanwhile, and that every record arrived
   exactly once. The issue's figure is a 10-minute outage: ``--outage 600``.

    .venv/bin/python bench/uplink.py [--target http|mqtt|viid] [--records 5000] [--outage 10] [--rate 50] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.db import bind, engine_for  # noqa: E402
from backend.keys import Keys  # noqa: E402
from backend.live.wakeup import Wakeup, install, uninstall  # noqa: E402
from backend.registry.tables import Community, District  # noqa: E402
from backend.settings import Settings  # noqa: E402
from backend.uplink import service, viid  # noqa: E402
from backend.uplink.outbox import PLATFORM, VIID, enqueue  # noqa: E402
from backend.uplink.sender import senders  # noqa: E402
from backend.uplink.tables import UplinkRecord  # noqa: E402
from bench._harness import anju, fresh_database  # noqa: E402
from device_bridge import store  # noqa: E402
from tests.brokers import listening, mosquitto_process  # noqa: E402
from tests.uplink_receiver import Receiver  # noqa: E402
from tests.uplink_subscriber import subscribed  # noqa: E402
from tests.viid_stub import ViidStub  # noqa: E402

SECRET = secrets.token_hex(32)
PER_TRANSACTION = 100
VIID_USER, VIID_PASSWORD, VIID_DEVICE = "bench", secrets.token_hex(8), "42011201002000000001"
CAPTURE = cv2.imencode(".jpg", np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8))[1].tobytes()


def row(n: int) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {
        "ID": f"420112001001-alarm-{n}",
        "BJQZR_XM": "张三",
        "BJQZ_DD": "湖北省武汉市东西湖区金银湖街道1栋1单元101",
        "BJQZ_RQJSJ": now,
        "BJLX": "紧急报警",
        "LXFS": "13800000000",
        "NR": "紧急报警：1栋1单元101",
        "BJ_ZT": "已处置",
        "CLJG_MC": "已到场处置",
        "CLSJ": now,
        "CLR_XM": "协管员 王芳",
        "DQJD": 114.203456,
        "DQWD": 30.645678,
        "YJSJD_MC": "一级",
    }


def face(n: int) -> dict:
    return viid.face_object("420112", n, 1, dt.datetime.now(dt.UTC), CAPTURE)


class Producer:
    def __init__(self, community: int, keys: Keys, target: str) -> None:
        self.community, self.keys, self.made = community, keys, 0
        self.table, self.row, self.target = (
            (viid.FACES, face, VIID) if target == "viid" else ("emergency_alarm", row, PLATFORM)
        )

    async def make(self, count: int) -> None:
        while count > 0:
            size = min(count, PER_TRANSACTION)
            async with store.writer(UplinkRecord._meta.db) as writer:
                for _ in range(size):
                    self.made += 1
                    await enqueue(
                        writer,
                        self.keys,
                        self.table,
                        f"record:{self.made}",
                        self.community,
                        self.row(self.made),
                        target=self.target,
                    )
            count -= size


async def pending() -> int:
    return await UplinkRecord.count().where(UplinkRecord.state == "pending")


async def lag(community: int) -> float:
    return (await service.status(Settings(), [community])).lag_seconds


class Endpoint:
    """The local target of ``--target``: up, down, and what it received."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.receiver = Receiver(SECRET)
        self.stub = ViidStub(VIID_USER, VIID_PASSWORD)
        self.broker = self.subscriber = None

    @contextlib.asynccontextmanager
    async def serving(self):
        if self.target != "mqtt":
            yield self
            return
        with mosquitto_process(persistent=True) as broker:
            self.broker = broker
            async with subscribed(broker.url, "bench/uplink", SECRET) as subscriber:
                self.subscriber = subscriber
                yield self

    def settings(self, database_url: str, args: argparse.Namespace) -> Settings:
        url = {"http": self.receiver.url, "mqtt": f"{self.broker.url}/bench/uplink" if self.broker else ""}
        return Settings(
            database_url=database_url,
            uplink_url=url.get(self.target, ""),
            uplink_secret=SECRET,
            viid_url=self.stub.url if self.target == "viid" else "",
            viid_user=VIID_USER,
            viid_password=VIID_PASSWORD,
            viid_device_id=VIID_DEVICE,
            uplink_retry_seconds=1.0,
            uplink_retry_max_seconds=args.retry_max,
            live_poll_seconds=1.0,
        )

    async def up(self) -> None:
        if self.target == "mqtt":
            if not listening("127.0.0.1", self.broker.port):  # started with the endpoint the first time
                self.broker.start()
        else:
            await (self.stub if self.target == "viid" else self.receiver).up()

    async def down(self) -> None:
        if self.target == "mqtt":
            self.broker.stop()
        else:
            await (self.stub if self.target == "viid" else self.receiver).down()

    def received(self) -> tuple[int, int, int]:
        """Records received, keys received more than once, bad signatures (or refused requests)."""
        if self.target == "mqtt":
            return (
                len(self.subscriber.deliveries),
                len(self.subscriber.repeats()),
                self.subscriber.bad_signatures,
            )
        if self.target == "viid":
            return len(self.stub.deliveries), len(self.stub.repeats()), len(self.stub.invalid)
        return len(self.receiver.applied), len(self.receiver.repeats()), self.receiver.bad_signatures


async def run(args: argparse.Namespace, database_url: str) -> None:
    async with Endpoint(args.target).serving() as endpoint:
        await measure(args, database_url, endpoint)


async def measure(args: argparse.Namespace, database_url: str, endpoint: Endpoint) -> None:
    env = {**os.environ, "ANJU_DATABASE_URL": database_url, "ANJU_VAR_DIR": tempfile.mkdtemp()}
    anju("migrate", env)
    engine = engine_for(database_url)
    bind(engine)
    district = District(code="420112", name="东西湖区")
    await district.save()
    community = Community(
        district=district.id,
        code="420112001001",
        name="基准小区",
        street="金银湖街道",
        police_station="金银湖派出所",
        address="武汉市东西湖区",
        latitude=30.64,
        longitude=114.2,
    )
    await community.save()
    settings = endpoint.settings(database_url, args)
    wakeup = Wakeup(settings)
    install(wakeup)
    keys = Keys(secrets.token_bytes(32))
    producer = Producer(community.id, keys, args.target)
    [sender] = senders(settings, wakeup, keys)
    try:
        # 1. Throughput.
        await endpoint.up()
        started = time.perf_counter()
        await producer.make(args.records)
        enqueued = time.perf_counter() - started
        print(f"enqueued {args.records} records in {enqueued:.2f} s: {args.records / enqueued:.0f} records/s")
        started = time.perf_counter()
        await sender.start()
        while await pending():
            await asyncio.sleep(0.05)
        sent = time.perf_counter() - started
        print(
            f"{args.target}: sent {args.records} records in {sent:.2f} s: {args.records / sent:.0f} records/s "
            f"(batches of {settings.uplink_batch})"
        )
        # 2. Outage.
        await endpoint.down()
        before = producer.made
        started = time.perf_counter()
        while time.perf_counter() - started < args.outage:
            await producer.make(max(1, int(args.rate)))
            await asyncio.sleep(1.0)
        owed = producer.made - before
        print(
            f"outage of {args.outage:.0f} s: {owed} records produced meanwhile, "
            f"{await pending()} pending, lag {await lag(community.id):.1f} s"
        )
        await endpoint.up()
        back = time.perf_counter()
        last_print = 0.0
        while await pending():
            if time.perf_counter() - last_print >= 1.0:
                last_print = time.perf_counter()
                print(
                    f"  +{last_print - back:5.1f} s: {await pending():6d} pending, lag {await lag(community.id):7.1f} s"
                )
            await asyncio.sleep(0.05)
        print(
            f"drained {owed} records {time.perf_counter() - back:.2f} s after the target came back; "
            f"lag now {await lag(community.id):.1f} s"
        )
        await asyncio.sleep(1.0)  # what is in flight arrives (MQTT: the subscriber's copies)
        received, repeated, bad = endpoint.received()
        print(
            f"received {received} of {producer.made} records, "
            f"{repeated} keys received more than once, {bad} bad signatures or refused objects"
        )
    finally:
        await sender.stop()
        if args.target != "mqtt":  # the broker stops with its subscriber, once it has closed
            await endpoint.down()
        await uninstall(wakeup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=("http", "mqtt", "viid"), default="http")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds the target is down")
    parser.add_argument("--rate", type=float, default=50.0, help="records per second during the outage")
    parser.add_argument("--retry-max", type=float, default=300.0, help="ANJU_UPLINK_RETRY_MAX_SECONDS")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    args = parser.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory() as directory:
            asyncio.run(run(args, f"sqlite:///{directory}/bench.sqlite"))
        return
    with fresh_database() as url:
        asyncio.run(run(args, url))


if __name__ == "__main__":
    main()
