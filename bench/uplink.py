"""The uplink: records/s through the outbox to a local endpoint, and how the lag drains after an outage.

In-process against a fresh database (PostgreSQL by default, ``--sqlite`` for a file of its own),
migrated with ``anju migrate``; the local target is tests/uplink_receiver.py (it checks every
signature and applies each key once). Records are valid ``emergency_alarm`` rows, enqueued 100
per transaction as the producers would (``outbox.enqueue``).

1. Throughput: ``--records`` rows enqueued, then the sender drains them: records/s end to end.
2. Outage: the target is down (connections refused) for ``--outage`` seconds while records are
   produced at ``--rate`` per second; then it comes back. Printed: the lag when it came back, the
   time until nothing is pending, the lag every second meanwhile, and that every record arrived
   exactly once. The issue's figure is a 10-minute outage: ``--outage 600``.

    .venv/bin/python bench/uplink.py [--records 5000] [--outage 10] [--rate 50] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.db import bind, engine_for  # noqa: E402
from backend.keys import Keys  # noqa: E402
from backend.live.wakeup import Wakeup, install, uninstall  # noqa: E402
from backend.registry.tables import Community, District  # noqa: E402
from backend.settings import Settings  # noqa: E402
from backend.uplink import service  # noqa: E402
from backend.uplink.outbox import enqueue  # noqa: E402
from backend.uplink.sender import Sender  # noqa: E402
from backend.uplink.tables import UplinkRecord  # noqa: E402
from bench._harness import anju, fresh_database  # noqa: E402
from device_bridge import store  # noqa: E402
from tests.uplink_receiver import Receiver  # noqa: E402

SECRET = secrets.token_hex(32)
PER_TRANSACTION = 100


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


class Producer:
    def __init__(self, community: int, keys: Keys) -> None:
        self.community, self.keys, self.made = community, keys, 0

    async def make(self, count: int) -> None:
        while count > 0:
            size = min(count, PER_TRANSACTION)
            async with store.writer(UplinkRecord._meta.db) as writer:
                for _ in range(size):
                    self.made += 1
                    await enqueue(
                        writer,
                        self.keys,
                        "emergency_alarm",
                        f"alarm:{self.made}",
                        self.community,
                        row(self.made),
                    )
            count -= size


async def pending() -> int:
    return await UplinkRecord.count().where(UplinkRecord.state == "pending")


async def lag(community: int) -> float:
    return (await service.status(Settings(), [community])).lag_seconds


async def run(args: argparse.Namespace, database_url: str) -> None:
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
    receiver = Receiver(SECRET)
    settings = Settings(
        database_url=database_url,
        uplink_url=receiver.url,
        uplink_secret=SECRET,
        uplink_retry_seconds=1.0,
        uplink_retry_max_seconds=args.retry_max,
        live_poll_seconds=1.0,
    )
    wakeup = Wakeup(settings)
    install(wakeup)
    keys = Keys(secrets.token_bytes(32))
    producer = Producer(community.id, keys)
    sender = Sender(settings, wakeup, keys)
    try:
        # 1. Throughput.
        await receiver.up()
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
            f"sent {args.records} records in {sent:.2f} s: {args.records / sent:.0f} records/s "
            f"({receiver.requests} requests, batches of {settings.uplink_batch})"
        )
        # 2. Outage.
        await receiver.down()
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
        await receiver.up()
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
        repeats = receiver.repeats()
        print(
            f"received {len(receiver.applied)} of {producer.made} records, "
            f"{len(repeats)} keys received more than once, {receiver.bad_signatures} bad signatures"
        )
    finally:
        await sender.stop()
        await receiver.down()
        await uninstall(wakeup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
