"""Sustained device events per second into PostgreSQL, beside the broker's raw rate, same run.

Seeds a fresh database, starts a Mosquitto of its own (configured as the README recommends),
then publishes N signed access events from every seeded device at once
(from a separate process, as fast as QoS 1 allows) twice: first to a plain subscriber that only
counts (the broker's raw rate), then to `anju bridge` workers that verify, translate and store
them. Checks that exactly N events and N access records were stored: nothing lost, nothing doubled.

    .venv/bin/python bench/ingest.py [--events 50000] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from pathlib import Path

import aiomqtt
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import anju, background, environment, fresh_database, mosquitto  # noqa: E402
from device_bridge.transport import client_options, parse_url  # noqa: E402


def _publish(env: dict, prefix: str, per_device: int, started) -> None:
    """In its own process, so publishing does not share an event loop (or a core) with counting."""
    os.environ.update(env)
    from backend.cli import _with_db
    from backend.devices.service import fleet
    from backend.settings import from_env
    from device_bridge.simulator import publish_events

    settings = from_env(env)
    devices = asyncio.run(_with_db(settings, lambda ctx: fleet(ctx)))
    started.set()

    async def all_devices() -> None:
        await asyncio.gather(*(publish_events(settings.broker, d, per_device, prefix) for d in devices))

    asyncio.run(all_devices())


def publish(env: dict, prefix: str, per_device: int) -> multiprocessing.Process:
    started = multiprocessing.get_context("spawn").Event()
    process = multiprocessing.get_context("spawn").Process(
        target=_publish, args=(env, prefix, per_device, started)
    )
    process.start()
    started.wait()
    return process


async def raw_rate(env: dict, per_device: int, total: int) -> float:
    """Messages per second through the broker to one subscriber that does nothing else."""
    prefix = env["ANJU_MQTT_PREFIX"] + "raw"
    async with aiomqtt.Client(**client_options(parse_url(env["ANJU_MQTT_URL"]))) as client:
        await client.subscribe(f"{prefix}/+/+/event", qos=1)
        process = publish(env, prefix, per_device)
        received, first = 0, None
        async with asyncio.timeout(120):
            async for _ in client.messages:
                first = first or time.perf_counter()
                received += 1
                if received == total:
                    break
        elapsed = time.perf_counter() - first
    process.join()
    return total / elapsed


async def stored(database: str) -> tuple[int, int]:
    connection = await asyncpg.connect(database)
    try:
        return (
            await connection.fetchval("SELECT count(*) FROM device_event"),
            await connection.fetchval("SELECT count(*) FROM access_record"),
        )
    finally:
        await connection.close()


async def ingest_rate(env: dict, database: str, per_device: int, total: int, seconds: float = 300) -> float:
    process = publish(env, env["ANJU_MQTT_PREFIX"], per_device)
    started = time.perf_counter()
    while (await stored(database))[0] < total:
        if time.perf_counter() - started > seconds:
            raise RuntimeError(f"only {(await stored(database))[0]} of {total} events stored in {seconds} s")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    process.join()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with fresh_database() as database, mosquitto() as broker:
        env = environment(database, broker)
        anju("seed", env)
        devices = asyncio.run(_count_devices(database))
        per_device = max(1, args.events // devices)
        total = per_device * devices
        print(f"{total} signed access events from {devices} devices, QoS 1, {env['ANJU_MQTT_URL']}")
        raw = asyncio.run(raw_rate(env, per_device, total))
        print(f"broker, raw (one subscriber, no work)      {raw:9.0f} events/s")
        workers = [f"bridge --worker bench{i}" for i in range(args.workers)]
        with background(*workers, env=env):
            time.sleep(2)  # let the workers connect and subscribe
            rate = asyncio.run(ingest_rate(env, database, per_device, total))
        events, passes = asyncio.run(stored(database))
        print(
            f"bridge → PostgreSQL, {args.workers} worker(s)            {rate:9.0f} events/s "
            f"({rate / raw:.0%} of raw)"
        )
        status = "OK" if events == passes == total else "MISMATCH"
        print(f"stored {events} device events and {passes} access records of {total} sent: {status}")
        if status != "OK":
            raise SystemExit(1)


async def _count_devices(database: str) -> int:
    connection = await asyncpg.connect(database)
    try:
        return await connection.fetchval("SELECT count(*) FROM device")
    finally:
        await connection.close()


if __name__ == "__main__":
    main()
