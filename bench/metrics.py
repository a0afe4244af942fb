"""What /metrics costs. First in process (no network, least disturbed by a shared machine): the
time of GET /api/health through the ASGI app with no request metrics, with the Prometheus plugin's
own middleware, and with ours (backend/metrics.py RouteMetrics). Then over the network with wrk:
metrics off, on, and on with workers adding up (ANJU_METRICS_DIR), same database, same run;
and a scrape storm on /metrics itself.

    .venv/bin/python bench/metrics.py [--seconds 10] [--concurrency 32] [--workers 1]

Needs ``wrk`` (apt-get install wrk). PostgreSQL from ANJU_BENCH_DATABASE_URL (bench/_harness.py),
seeded with the demo district so the scrape reads real device and counter tables.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from litestar import Litestar
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.health import health  # noqa: E402
from backend.metrics import request_metrics  # noqa: E402
from bench._harness import anju, background, environment, fresh_database, mosquitto, wait_for_server  # noqa: E402

TOKEN = secrets.token_urlsafe(32)


def wrk(
    url: str, seconds: float, concurrency: int, headers: dict[str, str] | None = None
) -> tuple[float, float]:
    """Requests per second and p99 in seconds."""
    header = [f"-H{k}: {v}" for k, v in (headers or {}).items()]
    out = subprocess.run(
        ["wrk", "-t2", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency", *header, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Non-2xx" not in out, out
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out).groups()
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]), float(value) * {
        "us": 1e-6,
        "ms": 1e-3,
        "s": 1,
    }[unit]


HEALTH_SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/api/health",
    "raw_path": b"/api/health",
    "query_string": b"",
    "root_path": "",
    "headers": [],
    "client": ("127.0.0.1", 1),
    "server": ("127.0.0.1", 80),
}


async def asgi_microseconds(
    apps: dict[str, Litestar], requests: int = 5000, rounds: int = 15
) -> dict[str, float]:
    """Per app, the best of ``rounds`` mean times of one GET /api/health straight through it;
    the apps take turns within each round, so a busy spell of the machine hits them alike."""

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: dict) -> None:
        pass

    best = dict.fromkeys(apps, float("inf"))
    for _ in range(rounds):
        for label, app in apps.items():
            started = time.perf_counter()
            for _ in range(requests):
                await app({**HEALTH_SCOPE, "state": {}}, receive, send)
            best[label] = min(best[label], (time.perf_counter() - started) / requests * 1e6)
    return best


def in_process() -> None:
    plugin = PrometheusConfig(**{**request_metrics().__dict__, "middleware_class": PrometheusMiddleware})
    apps = {
        "no request metrics": Litestar([health]),
        "the plugin's middleware": Litestar([health], middleware=[plugin.middleware]),
        "RouteMetrics (ours)": Litestar([health], middleware=[request_metrics().middleware]),
    }
    costs = asyncio.run(asgi_microseconds(apps))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Litestar's logging config made it chatty
    for label, cost in costs.items():
        extra = cost - costs["no request metrics"]
        print(f"in process, GET /api/health, {label:<24} {cost:6.1f} µs/request   (+{extra:4.1f} µs)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/metrics.py needs wrk (apt-get install wrk)")
    in_process()
    print(f"load: wrk, {args.concurrency} connections, {args.seconds:.0f} s each, {args.workers} worker(s)")
    with fresh_database() as database, mosquitto() as mqtt_url, tempfile.TemporaryDirectory() as var:
        base_env = environment(database, mqtt_url, ANJU_VAR_DIR=var)
        anju("seed", base_env)
        modes = {
            "metrics off": {},
            "metrics on": {"ANJU_METRICS_TOKEN": TOKEN},
            "on + METRICS_DIR": {"ANJU_METRICS_TOKEN": TOKEN, "ANJU_METRICS_DIR": f"{var}/metrics"},
        }
        results = {}
        for label, extra in modes.items():
            env = {**base_env, **extra}
            base = f"http://127.0.0.1:{env['ANJU_PORT']}"
            with background(f"serve --workers {args.workers}", env=env):
                wait_for_server(base)
                results[label] = rate, p99 = wrk(f"{base}/api/health", args.seconds, args.concurrency)
                line = f"GET /api/health, {label:<17} {rate:9.0f} req/s   p99 {p99 * 1000:6.2f} ms"
                print(f"{line}   {rate / results['metrics off'][0]:5.2f}x of off")
                if extra:
                    scrape = {"Authorization": f"Bearer {TOKEN}"}
                    rate, p99 = wrk(f"{base}/metrics", args.seconds / 2, 8, scrape)
                    print(
                        f"  scrape storm on /metrics (8 connections): {rate:7.0f} scrapes/s   p99 {p99 * 1000:6.2f} ms"
                    )
    print("(the machine may be shared: compare ratios from one run, not absolute figures)")


if __name__ == "__main__":
    main()
