"""Where a police scan's time goes: the same server and load, one part of a scan added at a time.

Serves the app with probe routes (bench/_probes.py) on a seeded PostgreSQL database and loads,
in turn, with the same concurrency and time (wrk, bench/scan.py's request script):

    trivial             GET /api/health: no token, no database
    signed in           + the bearer token checked (the verified-token cache)
    one query           + one round trip to PostgreSQL that reads nothing (SELECT 1)
    scan statement      the scan's one statement instead (plate, residents, owners)
    + audit entry       + the durable audit entry of the read (group commit)
    full scan           GET /api/scan: + roles/, unsealing, projection, JSON

Each line prints req/s, p50, p99 and the throughput as a share of the trivial endpoint's, so a
goal such as "a scan at ≥ 25 % of the trivial endpoint" can be read against what a request that
only touches the database reaches on the same machine.

    .venv/bin/python bench/scan_floor.py [--seconds 8] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._harness import anju, environment, fresh_database, mosquitto, wait_for_server  # noqa: E402
from bench.scan import POLICE, community_plates, load_wrk, police_token  # noqa: E402


def tiers(base: str, tokens: list[str]) -> list[tuple[str, list[str]]]:
    per_plate = lambda path: [f"{base}{path}/{token}" for token in tokens]  # noqa: E731
    return [
        ("trivial", [f"{base}/api/health"]),
        ("signed in", [f"{base}/probe/signed-in"]),
        ("one query", [f"{base}/probe/one-query"]),
        ("scan statement", per_plate("/probe/household")),
        ("+ audit entry", per_plate("/probe/household-audited")),
        ("full scan", per_plate("/api/scan")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/scan_floor.py needs wrk (apt-get install wrk)")
    with fresh_database() as database, mosquitto() as broker:
        env = environment(database, broker)
        anju("seed", env)
        server = subprocess.Popen(
            [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--no-access-log",
             "--port", env["ANJU_PORT"], "bench._probes:create_app"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = env["ANJU_PUBLIC_URL"]
            wait_for_server(base)
            run(base, database, args)
        finally:
            server.terminate()
            server.wait(timeout=15)


def run(base: str, database: str, args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {asyncio.run(police_token(base))}"}
    tokens = [token for _, token in asyncio.run(community_plates(database, POLICE))]
    print(f"load: wrk, {args.concurrency} connections, {args.seconds:.0f} s each, 1 worker")
    trivial = None
    for label, urls in tiers(base, tokens):
        rate, p50, p99 = load_wrk(urls, headers, args.seconds, args.concurrency)
        trivial = trivial or rate
        print(
            f"{label:<16} {rate:8.0f} req/s   p50 {p50 * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms"
            f"   {rate / trivial:5.2f}× trivial"
        )


if __name__ == "__main__":
    main()
