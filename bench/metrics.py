"""What /metrics costs: GET /api/health with metrics off, on, and on with workers adding up
(ANJU_METRICS_DIR), same database, same run; then a scrape storm on /metrics itself.

    .venv/bin/python bench/metrics.py [--seconds 10] [--concurrency 32] [--workers 1]

Needs ``wrk`` (apt-get install wrk). PostgreSQL from ANJU_BENCH_DATABASE_URL (bench/_harness.py),
seeded with the demo district so the scrape reads real device and counter tables.
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
