"""GET /metrics: closed by default, only for the scrape token, by route template, no personal data.

Metrics live in the process's registry, shared by every test here: assertions compare a scrape
before with one after (deltas), and the personal-data test sees what all earlier tests left.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest
from piccolo.engine.postgres import PostgresEngine
from prometheus_client.parser import text_string_to_metric_families

from backend.access.tables import AccessRecord
from backend.app import create_app
from backend.db import bind
from backend.devices.tables import BridgeCounter, Device, DeviceKind
from backend.metrics import DatabaseFigures
from backend.registry.tables import Person, Residency
from backend.seed import DEMO_CARDS
from device_bridge.bridge import Bridge, running
from roles import Role
from tests.brokers import free_port
from tests.conftest import ROOT, anju
from tests.integration.test_bridge import ACCESS, Fleet, eventually, new_bridge
from tests.integration.test_doors import simulated, unit_door
from tests.integration.test_health import logged

TOKEN = secrets.token_urlsafe(32)
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
OUTCOMES = {"opened", "refused", "offline", "timeout", "unavailable", "conflict", "error"}


@pytest.fixture
def settings(settings):
    """The shared test settings, with metrics switched on by a scrape token."""
    return msgspec.structs.replace(settings, metrics_token=TOKEN)


async def scrape(client) -> str:
    response = await client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def label_values(text: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if label in sample.labels
    }


# --- who may scrape ---------------------------------------------------------------


async def test_without_a_token_configured_there_is_no_metrics_route(settings):
    app = create_app(msgspec.structs.replace(settings, metrics_token=""))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://anju.local") as client:
        for headers in ({}, {"Authorization": "Bearer "}, SCRAPE):
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 404 and "anju_" not in response.text


async def test_anonymous_and_wrong_tokens_are_refused(world):
    resident = await world.headers(Role.RESIDENT)  # a signed-in user is no scraper
    basic = base64.b64encode(f"prometheus:{TOKEN}".encode()).decode()
    attempts = [
        ({}, ""),
        ({"Authorization": "Bearer"}, ""),
        ({"Authorization": "Bearer "}, ""),
        ({"Authorization": "Bearer wrong"}, ""),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, ""),
        ({"Authorization": f"Bearer {TOKEN}x"}, ""),
        ({"Authorization": f"Basic {basic}"}, ""),
        ({"Authorization": f"Token {TOKEN}"}, ""),
        ({"X-Metrics-Token": TOKEN}, ""),
        ({}, f"?token={TOKEN}"),
        (resident, ""),
    ]
    for headers, query in attempts:
        response = await world.client.get(f"/metrics{query}", headers=headers)
        assert response.status_code == 401, (headers, query, response.text)
        assert response.json()["extra"]["code"] == "metrics_token_required"
        assert "anju_" not in response.text
    assert "anju_requests_total" in await scrape(world.client)
    assert "/metrics" not in (await world.client.get("/schema/openapi.json")).json()["paths"]


# --- what is counted ------------------------------------------------------------------


def route_templates(app) -> set[str]:
    """The app's route paths as the request metrics label them: parameters without their types."""
    return {re.sub(r":[^}]+}", "}", route.path) for route in app.routes}


async def test_requests_are_counted_by_route_template_never_by_raw_path(world, settings):
    police = await world.headers(Role.POLICE)
    token = await world.house_plate(world.home_house)
    before = await scrape(world.client)
    for _ in range(3):
        assert (await world.client.get(f"/api/scan/{token}", headers=police)).status_code == 200
    assert (await world.client.get("/api/scan/AAAAAAAAAAAAAAAA")).status_code == 404
    assert (await world.client.get(f"/d/{token}")).status_code == 200
    after = await scrape(world.client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    scan = {"method": "GET", "path": "/api/scan/{token}"}
    assert moved("anju_requests_total", **scan, status_code="200") == 3
    assert moved("anju_requests_total", **scan, status_code="404") == 1
    assert moved("anju_request_duration_seconds_count", **scan, status_code="200") == 3
    assert moved("anju_requests_total", method="GET", path="/d/{token}", status_code="200") == 1
    paths = label_values(after, "path")
    assert "/api/scan/{token}" in paths and paths <= route_templates(create_app(settings))
    assert not any(token in path or "AAAAAAAAAAAAAAAA" in path for path in paths)


async def test_door_openings_are_timed_by_outcome(world, settings):
    resident = await world.headers(Role.RESIDENT)
    door = await unit_door(world)
    opening = f"/api/doors/{door['id']}/open"
    before = await scrape(world.client)
    async with simulated(world, settings):
        assert (await world.client.post(opening, headers=resident)).status_code == 200
    await Device.update({Device.online: False}).where(Device.id == door["device"])
    assert (await world.client.post(opening, headers=resident)).status_code == 503
    await Device.update({Device.online: True}).where(Device.id == door["device"])  # but nobody answers
    assert (await world.client.post(opening, headers=resident)).status_code == 504
    after = await scrape(world.client)

    def moved(name: str, outcome: str) -> float:
        return value(after, name, outcome=outcome) - value(before, name, outcome=outcome)

    for outcome in ("opened", "offline", "timeout"):
        assert moved("anju_door_open_seconds_count", outcome) == 1, outcome
    assert moved("anju_door_open_seconds_count", "refused") == 0
    assert moved("anju_door_open_seconds_sum", "timeout") >= settings.door_ack_seconds
    assert label_values(after, "outcome") <= OUTCOMES


async def test_audit_appends_are_timed(world):
    police = await world.headers(Role.POLICE)
    token = await world.house_plate(world.home_house)
    before = await scrape(world.client)
    scanned = await world.client.get(f"/api/scan/{token}", headers=police)  # a read the audit records
    assert scanned.status_code == 200
    after = await scrape(world.client)
    name = "anju_audit_append_seconds_count"
    assert value(after, name) - value(before, name) == 1


async def test_bridge_counters_and_devices_online_come_from_the_database(world, settings):
    fleet = Fleet(world, settings)
    async with running(new_bridge(world, settings, "metrics")) as bridge:
        worker = bridge.worker
        await fleet.publish(
            DeviceKind.FACE_GATE, [(f"ev-{secrets.token_hex(4)}", "access", ACCESS) for _ in range(2)]
        )
        await fleet.publish(
            DeviceKind.FACE_GATE, [(f"ev-{secrets.token_hex(4)}", "access", ACCESS)], secret=b"f" * 32
        )
        await eventually(lambda: _counted(bridge, accepted=2, forged=1))
    # A worker that stopped reporting long ago: its series ended, its row stays.
    long_ago = datetime.now(UTC) - timedelta(days=2)
    await BridgeCounter.insert(
        BridgeCounter(
            worker="gone-worker", reason="accepted", count=7, updated_at=long_ago, slot="gone-worker:accepted"
        )
    )
    devices = await Device.count().where(Device.community == world.home)
    online = await Device.select(Device.id).where(Device.community == world.home).order_by(Device.id).limit(3)
    await Device.update({Device.online: False}).where(Device.community == world.home)
    await Device.update({Device.online: True}).where(Device.id.is_in([d["id"] for d in online]))

    text = await scrape(world.client)
    assert value(text, "anju_bridge_messages_total", worker=worker, reason="accepted") == 2
    assert value(text, "anju_bridge_messages_total", worker=worker, reason="forged") == 1
    assert value(text, "anju_bridge_events_stored_total", worker=worker) == 2
    assert value(text, "anju_bridge_connected", worker=worker) == 0  # its last word, at a clean stop
    assert value(text, "anju_bridge_last_report_timestamp_seconds", worker=worker) > long_ago.timestamp()
    assert 'reason="stored"' not in text and 'reason="batch_lag_ms"' not in text
    assert "gone-worker" not in text
    home = str(world.home)
    assert value(text, "anju_devices", community=home, state="online") == 3
    assert value(text, "anju_devices", community=home, state="offline") == devices - 3


async def test_credential_passes_by_known_and_unknown_holder(world, settings):
    """Passes by the seeded card and by two cards nobody holds, per community: counts, never who."""
    fleet = Fleet(world, settings)
    cards = [DEMO_CARDS[0], "1111111111", "2222222222"]
    async with running(new_bridge(world, settings)):
        await fleet.publish(
            DeviceKind.FACE_GATE,
            [(f"ev-{secrets.token_hex(4)}", "access", {**ACCESS, "credential": card}) for card in cards],
        )
        await eventually(lambda: _stored(3))
    text = await scrape(world.client)
    home = str(world.home)
    assert value(text, "anju_access_credential_passes_24h", community=home, holder="person") == 1
    assert value(text, "anju_access_credential_passes_24h", community=home, holder="unknown") == 2


async def _stored(passes: int) -> bool:
    return await AccessRecord.count().where(AccessRecord.resolution != "") == passes


async def _counted(bridge: Bridge, **reasons: int) -> bool:
    return all(bridge.counts[reason] == count for reason, count in reasons.items())


async def test_database_figures_are_read_at_most_once_per_window(world):
    """A scrape storm costs one query per window: within it a change shows only after the window."""
    await Device.update({Device.online: False}).where(Device.community == world.home)
    cached, fresh = DatabaseFigures(seconds=3600), DatabaseFigures(seconds=0)

    async def online() -> tuple[float, float]:
        return await _online(cached, world.home), await _online(fresh, world.home)

    assert await online() == (0, 0)
    await Device.update({Device.online: True}).where(Device.community == world.home)
    devices = await Device.count().where(Device.community == world.home)
    assert await online() == (0, devices)


async def _online(figures: DatabaseFigures, community: int) -> float:
    wanted = {"community": str(community), "state": "online"}
    return sum(s.value for family in await figures.families() for s in family.samples if s.labels == wanted)


async def test_a_database_outage_leaves_the_figures_out_and_the_scrape_answering(world, caplog):
    """Nothing listens where the database should be: the scrape still answers 200 with the process's
    metrics; the figures are left out, logged once per outage, and come back with the database."""
    figures, engine = DatabaseFigures(seconds=0), Device._meta.db
    await world.client.get("/api/health")  # a request counted before the scrapes
    logging.getLogger().addHandler(caplog.handler)  # the app's logging configuration replaced the root's
    with warnings.catch_warnings(action="ignore"):  # Piccolo warns that it cannot connect: we know
        gone = PostgresEngine(config={"dsn": f"postgresql://postgres@127.0.0.1:{free_port()}/gone"})
    bind(gone)
    try:
        during = [await scrape(world.client) for _ in range(3)]
        assert await figures.families() == [] and await figures.families() == []
        bind(engine)
        back = await figures.families()
    finally:
        bind(engine)
        logging.getLogger().removeHandler(caplog.handler)
    assert all("anju_requests_total" in text and "anju_devices{" not in text for text in during)
    assert logged(caplog, "figures unavailable") == 2  # the app's and ours, each once
    assert {family.name for family in back} >= {
        "anju_bridge_messages",
        "anju_bridge_connected",
        "anju_devices",
    }
    assert logged(caplog, "figures available again") == 1


# --- no personal data ---------------------------------------------------------------------


async def test_no_token_id_number_phone_or_name_reaches_the_metrics(world, settings):
    police, resident = await world.headers(Role.POLICE), await world.headers(Role.RESIDENT)
    plates = {
        await world.house_plate(world.home_house): police,
        await world.house_plate(world.other_house): await world.headers(Role.POLICE, "other"),
    }
    secrets_seen = {*plates, TOKEN, "ZZZZZZZZZZZZZZZZ", "tap-personal-4242"}
    for token, headers in plates.items():
        view = (await world.client.get(f"/api/scan/{token}", headers=headers)).json()
        secrets_seen |= _personal_strings(view)
        await world.client.get(f"/d/{token}")
        await world.client.get(f"/d/{token}/register")
    await world.client.get("/api/scan/ZZZZZZZZZZZZZZZZ", headers=police)
    residency = await Residency.select(Residency.id).where(Residency.house == world.home_house).first()
    await world.client.get(f"/api/residencies/{residency['id']}/history", headers=police)
    door = await unit_door(world)
    async with simulated(world, settings):
        opened = await world.client.post(
            f"/api/doors/{door['id']}/open", headers={**resident, "Idempotency-Key": "tap-personal-4242"}
        )
    assert opened.status_code == 200, opened.text
    secrets_seen.add(opened.json()["command_id"])
    people = await Person.select(Person.name, Person.id_number_encrypted).where(
        Person.id.is_in([r["person"] for r in await Residency.select(Residency.person)])
    )
    secrets_seen |= {p["name"] for p in people} | {
        world.ctx.keys.unseal(p["id_number_encrypted"]) for p in people
    }
    for role, community in ((Role.RESIDENT, "home"), (Role.POLICE, "home"), (Role.POLICE, "other")):
        bearer = (await world.headers(role, community))["Authorization"].split()[1]
        secrets_seen |= {world.phone(role, community), bearer}

    text = await scrape(world.client)
    assert "anju_requests_total" in text and "anju_door_open_seconds" in text
    leaked = sorted(s for s in secrets_seen if len(s) >= 2 and s in text)
    assert not leaked


def _personal_strings(view: dict) -> set[str]:
    """Names, phones and ID numbers (full or masked) of a police scan view."""
    found = set()
    for person in [*view.get("residents", []), *view.get("owners", [])]:
        found |= {str(person[key]) for key in ("name", "phone", "id_number") if person.get(key)}
    assert found, "the police view carried no personal data to look for"
    return found


# --- several workers ------------------------------------------------------------------------


def test_workers_add_up_their_counts_under_a_metrics_dir(tmp_path, mqtt_url):
    """Two granian workers, one folder: every scrape, whichever worker answers it, counts every request."""
    database = f"sqlite:///{tmp_path}/anju.sqlite"
    folder, port = tmp_path / "metrics", free_port()
    env = {
        "ANJU_DATABASE_URL": database,
        "ANJU_VAR_DIR": str(tmp_path),
        "ANJU_SECRET_KEY": "test-secret-" + "x" * 32,
        "ANJU_SMS_SENDER": "memory",
        "ANJU_MQTT_URL": mqtt_url,
        "ANJU_PORT": str(port),
        "ANJU_METRICS_TOKEN": TOKEN,
        "ANJU_METRICS_DIR": str(folder),
    }
    assert anju("migrate", env=env).returncode == 0
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"left by an earlier run")
    server = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", "--workers", "2"],
        env={**_clean_env(), **env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, server)
        sent = 1
        while len(_counting_workers(folder)) < 2 and sent < 2000:  # until both workers served some
            _get(url + "/api/health")
            sent += 1
        assert len(_counting_workers(folder)) == 2, "both workers should count into the metrics folder"
        # A request is counted just after its response went out: the last one may still be counting.
        deadline = time.monotonic() + 5
        while _health_counted(url) != sent and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [_health_counted(url) for _ in range(6)] == [sent] * 6
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert not (folder / "counter_1.db").exists()


def _health_counted(url: str) -> float:
    text = _get(url + "/metrics", SCRAPE)
    return value(text, "anju_requests_total", path="/api/health", status_code="200")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ANJU_", "PROMETHEUS_"))}


def _counting_workers(folder: Path) -> set[str]:
    return {path.stem.removeprefix("counter_") for path in folder.glob("counter_*.db")}


def _get(url: str, headers: dict[str, str] | None = None) -> str:
    """One request on a connection of its own, so the kernel may give it to either worker."""
    request = urllib.request.Request(url, headers={**(headers or {}), "Connection": "close"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def _wait_until_healthy(url: str, server: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited: {server.stdout.read()}")
        try:
            _get(url + "/api/health")
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")
