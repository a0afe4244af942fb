"""Throughput and latency of GET /api/scan/{token} as police, beside a trivial endpoint.

Runs a real server (granian) on PostgreSQL with a seeded demo district, signs in as the
community police officer (code + a software passkey), then loads both endpoints in turn
for the same time with the same concurrency and prints req/s, p50, p99 and the ratios.

The scans cycle through every live plate of the officer's community (gates, buildings,
units and flats, in proportion to how many of each the community has), so they read
households of every size, empty flats and plates that show no household at all.

    .venv/bin/python bench/scan.py [--seconds 10] [--concurrency 32] [--workers 1] [--in-app]

The database server comes from ANJU_BENCH_DATABASE_URL (default: the local PostgreSQL);
a fresh database is created and dropped (bench/_harness.py). Uses ``wrk`` when installed (apt-get install wrk),
both endpoints through the same request script (bench/rotate.lua, which cycles through the plates),
otherwise an asyncio/httpx load generator (which then shares the CPU with the server).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.seed import demo_phone  # noqa: E402
from bench._harness import anju, background, environment, fresh_database, mosquitto, wait_for_server  # noqa: E402
from roles import Role  # noqa: E402
from tests.softkey import SoftKey  # noqa: E402

POLICE = demo_phone(Role.POLICE)
ROTATE = Path(__file__).with_name("rotate.lua")
METRICS_TOKEN = secrets.token_hex(16)
SCAN_ROUTE = "/api/scan/{token}"


async def police_token(base: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        await client.post("/api/auth/code", json={"phone": POLICE})
        signed = (await client.post("/api/auth/token", json={"phone": POLICE, "code": "123456"})).json()
        auth = {"Authorization": f"Bearer {signed['access_token']}"}
        options = (await client.post("/api/auth/passkeys/registration-options", headers=auth)).json()
        enrolled = await client.post(
            "/api/auth/passkeys", json={"credential": SoftKey(base).create(options)}, headers=auth
        )
        return enrolled.json()["access_token"]


async def load_python(
    urls: list[str], headers: dict, seconds: float, concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    turns = itertools.cycle(urls)
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.get(next(turns))
                assert response.status_code == 200, response.text
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


def load_wrk(urls: list[str], headers: dict, seconds: float, concurrency: int) -> tuple[float, float, float]:
    """wrk cycling through ``urls`` (same host); the trivial endpoint goes through the same script."""
    header = [f"-H{k}: {v}" for k, v in headers.items()]
    base = re.match(r"https?://[^/]+", urls[0])[0]
    with tempfile.NamedTemporaryFile("w", suffix=".paths") as paths:
        paths.write("".join(url.removeprefix(base) + "\n" for url in urls))
        paths.flush()
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{concurrency}",
                f"-d{int(seconds)}s",
                "--latency",
                "-s",
                str(ROTATE),
                *header,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "ANJU_BENCH_PATHS": paths.name},
        ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert non2xx is None, f"errors under load: {non2xx[0]}"
    # wrk leaves requests that time out (2 s) out of its latency: a server that starves some
    # connections would look fast. Such a run measures nothing.
    errors = re.search(r"Socket errors: (.*)", out)
    assert errors is None, f"wrk: socket errors ({errors[1]}), excluded from its latency"

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]

    return rate, percentile("50"), percentile("99")


def measure(urls: list[str], headers: dict, args) -> tuple[float, float, float]:
    if shutil.which("wrk"):
        return load_wrk(urls, headers, args.seconds, args.concurrency)
    rate, latencies = asyncio.run(load_python(urls, headers, args.seconds, args.concurrency))
    cuts = statistics.quantiles(latencies, n=100)
    return rate, cuts[49], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--in-app",
        action="store_true",
        help="turn request metrics on and print the scans' own durations in the app (metrics cost "
        "≈ a quarter of the trivial endpoint's throughput, so ratios differ from runs without)",
    )
    args = parser.parse_args()

    with fresh_database() as database, mosquitto() as broker:
        env = environment(database, broker, ANJU_METRICS_TOKEN=METRICS_TOKEN if args.in_app else "")
        anju("seed", env)
        base = env["ANJU_PUBLIC_URL"]
        with background(f"serve --workers {args.workers}", env=env):
            wait_for_server(base)
            run(base, database, args)


def run(base: str, database: str, args: argparse.Namespace) -> None:
    token = asyncio.run(police_token(base))
    plates = asyncio.run(community_plates(database, POLICE))
    headers = {"Authorization": f"Bearer {token}"}
    scans = [f"{base}/api/scan/{plate}" for _, plate in plates]
    assert httpx.get(scans[0], headers=headers).status_code == 200
    tool = "wrk" if shutil.which("wrk") else "httpx (same machine)"
    print(
        f"load: {tool}, {args.concurrency} connections, {args.seconds:.0f} s each, {args.workers} worker(s)"
    )
    print(f"plate mix: {describe(plates)}")
    results = {}
    for label, urls in (("GET /api/health", [f"{base}/api/health"]), ("GET /api/scan (police)", scans)):
        before = in_app_durations(base) if args.in_app else Counter()
        results[label] = measure(urls, headers, args)
        rate, p50, p99 = results[label]
        print(f"{label:<24} {rate:9.0f} req/s   p50 {p50 * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms")
    (base_rate, base_p50, base_p99), (rate, p50, p99) = results.values()
    print(
        f"scan / trivial: throughput {rate / base_rate:.2f}× (a scan costs ≈ {base_rate / rate:.1f} trivial "
        f"requests), p50 {p50 / base_p50:.1f}×, p99 {p99 / base_p99:.1f}×"
    )
    if args.in_app:
        print(explain_latency(in_app_durations(base) - before, rate, args.concurrency))


def in_app_durations(base: str) -> Counter:
    """The scan route's duration histogram in the app (the metrics middleware): bucket bound → count."""
    text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    buckets: Counter = Counter()
    for line in text.splitlines():
        if line.startswith("anju_request_duration_seconds_bucket") and f'path="{SCAN_ROUTE}"' in line:
            bound = re.search(r'le="([^"]+)"', line)[1]
            buckets[float(bound)] += float(line.rsplit(" ", 1)[1])
    return buckets


def explain_latency(buckets: Counter, rate: float, concurrency: int) -> str:
    """Where a scan's time goes: inside the app, or queued before it (wrk's latency minus the app's).

    A closed loop of ``concurrency`` connections keeps the server saturated, so by Little's law a
    request's mean latency is concurrency / throughput, however fast each request is handled.
    """
    total = buckets[float("inf")]
    if not total:
        return "in the app: no scans recorded (metrics off?)"
    bound_99 = next(bound for bound in sorted(buckets) if buckets[bound] >= 0.99 * total)
    within = {bound: buckets[bound] / total for bound in (0.005, 0.01, 0.025)}
    shares = ", ".join(f"{share:.1%} within {bound * 1000:.0f} ms" for bound, share in within.items())
    return (
        f"in the app (request start to response, histogram buckets): {shares}; p99 ≤ {bound_99 * 1000:.0f} ms\n"
        f"mean latency at saturation = connections / throughput = {concurrency / rate * 1000:.1f} ms"
        " (the rest of wrk's latency waits in the server's queue, before the app)"
    )


# Every live plate of the community the officer is assigned to, and whether its flat has people.
PLATES_SQL = """
SELECT a.kind, d.token,
       EXISTS (SELECT 1 FROM house h JOIN residency r ON r.house = h.id WHERE h.address = a.id) AS lived_in
FROM doorplate d
JOIN address a ON a.id = d.address
WHERE d.revoked_at IS NULL AND d.community = (
    SELECT s.community FROM staff_scope s JOIN account ac ON ac.id = s.account WHERE ac.phone = $1 LIMIT 1
)
"""


async def community_plates(database: str, phone: str) -> list[tuple[str, str]]:
    """(kind, token) of every live plate in the officer's community, flats split by occupancy, shuffled."""
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch(PLATES_SQL, phone)
    finally:
        await connection.close()
    plates = [(_kind(row), row["token"]) for row in rows]
    random.Random(14).shuffle(plates)  # a fixed order: runs are comparable
    return plates


def _kind(row) -> str:
    if row["kind"] != "house":
        return row["kind"]
    return "flat" if row["lived_in"] else "empty flat"


def describe(plates: list[tuple[str, str]]) -> str:
    counts = Counter(kind for kind, _ in plates)
    kinds = ", ".join(
        f"{counts[k]} {k}" for k in ("gate", "building", "unit", "flat", "empty flat") if counts[k]
    )
    return f"{len(plates)} live plates of the officer's community, each scanned equally often ({kinds})"


if __name__ == "__main__":
    main()
