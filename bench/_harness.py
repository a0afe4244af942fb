"""What the benchmarks share: a fresh PostgreSQL database, the `anju` command, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

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


# The broker configuration the README recommends for production: no queue cap (Mosquitto's
# default of 1000 queued messages per client drops QoS 1 messages to a consumer that falls
# behind), and TCP_NODELAY so small commands and acks are not held back.
BROKER_CONF = """listener {port} 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_inflight_messages 0
set_tcp_nodelay true
persistence false
"""


@contextlib.contextmanager
def mosquitto():
    """A Mosquitto of the benchmark's own, configured as recommended; yields its mqtt:// URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        conf = Path(folder) / "mosquitto.conf"
        conf.write_text(BROKER_CONF.format(port=port))
        broker = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 10
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start")
                time.sleep(0.05)
            yield f"mqtt://127.0.0.1:{port}"
        finally:
            broker.terminate()
            broker.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    """`anju` commands running for the duration of the block."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "backend", *command.split()],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for command in commands
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
