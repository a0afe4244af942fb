"""What the benchmarks share: a fresh PostgreSQL database, the `anju` command, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from tests.brokers import free_port, mosquitto  # noqa: F401 - re-exported for the benchmarks

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("ANJU_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(SERVER)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_database():
    """A database of its own on the benchmark server, dropped afterwards."""
    name = f"anju_bench_{secrets.token_hex(3)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield re.sub(r"/[^/]*$", f"/{name}", SERVER)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def environment(database: str, mqtt_url: str, **extra: str) -> dict[str, str]:
    port = free_port()
    return {
        **os.environ,
        "ANJU_DATABASE_URL": database,
        "ANJU_DEMO": "true",
        "ANJU_PORT": str(port),
        "ANJU_PUBLIC_URL": f"http://localhost:{port}",
        "ANJU_SECRET_KEY": secrets.token_hex(32),
        "ANJU_MQTT_URL": mqtt_url,
        "ANJU_MQTT_PREFIX": f"anjubench{secrets.token_hex(3)}",
        "ANJU_VIDEO_PROBE_SECONDS": "0",  # no simulated cameras here: probing them adds load and alarms
        **extra,
    }


def anju(command: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "backend", *command.split()],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )


@contextlib.contextmanager
def background(*commands: str, env: dict):
    """`anju` commands running for the duration of the block (their output in ANJU_BENCH_LOGS, if set)."""
    logs = Path(os.environ.get("ANJU_BENCH_LOGS", os.devnull))  # a folder: one log per command

    def output(number: int, command: str):
        if logs == Path(os.devnull):
            return subprocess.DEVNULL
        logs.mkdir(parents=True, exist_ok=True)
        return (logs / f"{number}-{command.split()[0]}.log").open("w")

    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "backend", *command.split()],
            env=env,
            cwd=ROOT,
            stdout=(out := output(number, command)),
            stderr=out,
        )
        for number, command in enumerate(commands)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def wait_for_server(base: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
