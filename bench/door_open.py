"""Phone door opening, tap to ack: p50/p99 over the real broker (goal: p99 < 150 ms).

Runs the server, a bridge worker and the simulated devices against a fresh PostgreSQL database
and a Mosquitto of its own (configured as the README recommends), signs in as the demo resident and taps "open" on their unit door,
one tap after another, then with several residents' worth of taps in parallel.

    .venv/bin/python bench/door_open.py [--taps 300] [--parallel 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.seed import demo_phone  # noqa: E402
from bench._harness import (  # noqa: E402
    anju,
    background,
    environment,
    fresh_database,
    mosquitto,
    percentile,
    wait_for_server,
)
from roles import Role  # noqa: E402


async def devices_online(database: str, seconds: float = 30) -> None:
    connection = await asyncpg.connect(database)
    try:
        deadline = time.monotonic() + seconds
        while await connection.fetchval("SELECT count(*) FROM device WHERE community = 1 AND NOT online"):
            if time.monotonic() > deadline:
                raise RuntimeError("simulated devices did not come online")
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


async def taps(base: str, count: int, parallel: int) -> list[float]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        phone = demo_phone(Role.RESIDENT)
        await client.post("/api/auth/code", json={"phone": phone})
        tokens = (await client.post("/api/auth/token", json={"phone": phone, "code": "123456"})).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        doors = (await client.get("/api/doors", headers=headers)).json()
        door = next(d for d in doors if d["kind"] == "unit")
        latencies: list[float] = []

        async def tap() -> None:
            started = time.perf_counter()
            response = await client.post(
                f"/api/doors/{door['id']}/open", headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
            )
            assert response.status_code == 200 and response.json()["opened"], response.text
            latencies.append(time.perf_counter() - started)

        for _ in range(10):  # warm-up: connections, caches
            await tap()
        latencies.clear()
        remaining = count
        while remaining:
            batch = min(parallel, remaining)
            await asyncio.gather(*(tap() for _ in range(batch)))
            remaining -= batch
        return latencies


def report(label: str, latencies: list[float]) -> None:
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    verdict = "meets" if p99 < 0.150 else "misses"
    print(
        f"{label:<22} {len(latencies):5d} taps   p50 {p50 * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms   "
        f"max {max(latencies) * 1000:6.1f} ms   ({verdict} the 150 ms p99 goal)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--taps", type=int, default=300)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    measure_taps(
        "tap → signed MQTT command → simulated intercom → ack → response", taps, args.taps, args.parallel
    )


def measure_taps(path: str, taps, count: int, parallel: int) -> None:
    """``taps`` one at a time, then ``parallel`` at once, against a seeded PostgreSQL database, the
    server, a bridge worker and the simulated fleet (a Mosquitto of its own)."""
    with fresh_database() as database, mosquitto() as broker:
        env = environment(database, broker)
        anju("seed", env)
        base = env["ANJU_PUBLIC_URL"]
        with background("serve", "bridge --worker bench", "simulate --community 1", env=env):
            wait_for_server(base)
            asyncio.run(devices_online(database))
            print(f"{path}; PostgreSQL, {env['ANJU_MQTT_URL']}")
            report("one at a time", asyncio.run(taps(base, count, 1)))
            report(f"{parallel} in parallel", asyncio.run(taps(base, count, parallel)))


if __name__ == "__main__":
    main()
