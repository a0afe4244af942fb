"""Mixed load for a bounded time: police scans, phone door opens and device events, all at once.

Seeds a fresh PostgreSQL database, starts a Mosquitto of its own, the server, bridge workers and
the simulated fleet, then for ``--seconds``:

- police officers scan every doorplate of the community in turn (gate, building, unit and flats);
- residents tap "open" on their unit door, each tap with a new Idempotency-Key, and retry every
  fifth tap with the same key (a retried tap must answer the first pass, not open again);
- a separate process publishes signed access events from every device, in rounds.

Then it waits for the bridge to drain and counts, from what was stored and executed:
events sent vs stored (lost, duplicated), taps answered vs passes recorded vs commands the
simulated devices executed (a door command executed twice shows here). Exits non-zero when
anything was lost or doubled.

    .venv/bin/python bench/soak.py [--seconds 60] [--scanners 16] [--tappers 4] [--workers 1] [--bridges 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.devices.tables import Liveness  # noqa: E402
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
from bench.door_open import devices_online  # noqa: E402
from bench.scan import police_token  # noqa: E402
from device_bridge.executed import executed_in  # noqa: E402
from roles import Role  # noqa: E402

EVENTS_PER_ROUND = 20  # per device; a round takes well under a second on loopback
RETRY_EVERY = 5


def _publish(env: dict, until: float, sent_file: str) -> None:
    """In its own process, so publishing does not share an event loop (or a core) with the load."""
    os.environ.update(env)
    from backend.cli import _with_db
    from backend.devices.service import fleet
    from backend.settings import from_env
    from device_bridge.simulator import publish_events

    settings = from_env(env)
    devices = asyncio.run(_with_db(settings, lambda ctx: fleet(ctx, 1)))

    async def rounds() -> None:
        with open(sent_file, "w") as out:
            while time.time() < until:
                batches = await asyncio.gather(
                    *(
                        publish_events(settings.broker, d, EVENTS_PER_ROUND, settings.mqtt_prefix)
                        for d in devices
                    )
                )
                out.writelines(f"{message_id}\n" for batch in batches for message_id in batch)
                await asyncio.sleep(0.2)

    asyncio.run(rounds())


class Tally(msgspec.Struct):
    latencies: list[float] = msgspec.field(default_factory=list)
    errors: Counter[str] = msgspec.field(default_factory=Counter)


async def scan_loop(client: httpx.AsyncClient, plates: itertools.cycle, until: float, tally: Tally) -> None:
    while time.time() < until:
        started = time.perf_counter()
        response = await client.get(f"/api/scan/{next(plates)}")
        if response.status_code == 200 and _police_view(response.json()):
            tally.latencies.append(time.perf_counter() - started)
        else:
            tally.errors[str(response.status_code)] += 1


def _police_view(view: dict) -> bool:
    """Only a flat's plate shows a household (to police, the whole of it); others show the place."""
    return view["viewer"] == "police" or view["plate"]["kind"] != "house"


async def tap_loop(client: httpx.AsyncClient, door: int, until: float, tally: Tally, keys: set[str]) -> None:
    for number in itertools.count():
        if time.time() >= until:
            return
        key = uuid.uuid4().hex
        started = time.perf_counter()
        first = await client.post(f"/api/doors/{door}/open", headers={"Idempotency-Key": key})
        if first.status_code != 200 or not first.json()["opened"]:
            tally.errors[f"{first.status_code} {first.json().get('code', '')}".strip()] += 1
            continue
        tally.latencies.append(time.perf_counter() - started)
        keys.add(first.json()["command_id"])
        if number % RETRY_EVERY == 0:
            again = await client.post(f"/api/doors/{door}/open", headers={"Idempotency-Key": key})
            if again.json().get("command_id") != first.json()["command_id"]:
                tally.errors["retry answered a different command"] += 1


async def signed_in(base: str, phone: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=15)
    await client.post("/api/auth/code", json={"phone": phone})
    tokens = (await client.post("/api/auth/token", json={"phone": phone, "code": "123456"})).json()
    client.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    return client


async def load(
    base: str, database: str, args: argparse.Namespace, until: float
) -> tuple[Tally, Tally, set[str]]:
    plates = itertools.cycle(await _plates(database))
    police = httpx.AsyncClient(
        base_url=base,
        timeout=15,
        headers={"Authorization": f"Bearer {await police_token(base)}"},
        limits=httpx.Limits(max_connections=args.scanners),
    )
    resident = await signed_in(base, demo_phone(Role.RESIDENT))
    door = next(d for d in (await resident.get("/api/doors")).json() if d["kind"] == "unit")["id"]
    scans, taps, commands = Tally(), Tally(), set()
    try:
        await asyncio.gather(
            *(scan_loop(police, plates, until, scans) for _ in range(args.scanners)),
            *(tap_loop(resident, door, until, taps, commands) for _ in range(args.tappers)),
        )
    finally:
        await police.aclose()
        await resident.aclose()
    return scans, taps, commands


async def drained(database: str, sent: list[str], seconds: float = 120) -> tuple[int, int]:
    """(distinct events stored, rows stored) among those sent, once the bridge has caught up."""
    connection = await asyncpg.connect(database)
    query = (
        "SELECT count(DISTINCT split_part(key, ':', 2)), count(*) FROM device_event "
        "WHERE split_part(key, ':', 2) = ANY($1::text[])"
    )
    try:
        deadline = time.monotonic() + seconds
        while True:
            distinct, rows = await connection.fetchrow(query, sent)
            if distinct >= len(sent) or time.monotonic() > deadline:
                return distinct, rows
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def bridge_counts(database: str) -> dict[str, int]:
    """What the bridge workers counted, added up over workers: accepted, stored, refusals by reason."""
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch(
            "SELECT reason, sum(count) AS n FROM bridge_counter "
            "WHERE reason <> ALL($1::text[]) GROUP BY reason ORDER BY reason",
            [Liveness.CONNECTED, Liveness.BATCH_LAG_MS],  # gauges: a sum over workers means nothing
        )
        return {row["reason"]: row["n"] for row in rows}
    finally:
        await connection.close()


async def passes_recorded(database: str, commands: set[str]) -> int:
    connection = await asyncpg.connect(database)
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM access_record WHERE key = ANY($1::text[])", [f"cmd:{c}" for c in commands]
        )
    finally:
        await connection.close()


def executed_opens(var_dir: Path, commands: set[str]) -> int:
    """Opens the simulated devices executed for our taps, read from the files they keep on disk."""
    return sum(1 for e in executed_in(var_dir / "devices") if e.id in commands and e.ack.get("ok"))


def report(label: str, tally: Tally, seconds: float) -> None:
    done = len(tally.latencies)
    rate = done / seconds
    p50 = percentile(tally.latencies, 0.50) * 1000 if done else float("nan")
    p99 = percentile(tally.latencies, 0.99) * 1000 if done else float("nan")
    errors = ", ".join(f"{reason}: {n}" for reason, n in tally.errors.items()) or "none"
    print(
        f"{label:<12} {done:7d} ok  {rate:8.1f}/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   errors: {errors}"
    )


async def _plates(database: str) -> list[str]:
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch(
            "SELECT d.token FROM doorplate d JOIN address a ON a.id = d.address WHERE a.community = 1 ORDER BY a.code"
        )
        return [row["token"] for row in rows]
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--scanners", type=int, default=16)
    parser.add_argument("--tappers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--bridges", type=int, default=2, help="bridge worker processes")
    args = parser.parse_args()
    with fresh_database() as database, mosquitto() as broker, tempfile.TemporaryDirectory() as var:
        # The devices forget executed commands older than the freshness window (their files are
        # what the count reads): the window outlasts the run, so none is forgotten before the count.
        window = str(args.seconds + 180)
        env = environment(database, broker, ANJU_VAR_DIR=var, ANJU_COMMAND_MAX_AGE_SECONDS=window)
        anju("seed", env)
        base = env["ANJU_PUBLIC_URL"]
        bridges = [f"bridge --worker soak{i}" for i in range(args.bridges)]
        with background(f"serve --workers {args.workers}", *bridges, "simulate --community 1", env=env):
            wait_for_server(base)
            asyncio.run(devices_online(database))
            print(
                f"soak: {args.seconds:.0f} s, {args.scanners} scanners, {args.tappers} tappers, "
                f"{args.workers} server worker(s), {args.bridges} bridge worker(s), PostgreSQL, {env['ANJU_MQTT_URL']}"
            )
            until = time.time() + args.seconds
            sent_file = Path(var) / "sent.txt"
            publisher = multiprocessing.get_context("spawn").Process(
                target=_publish, args=(env, until, str(sent_file))
            )
            publisher.start()
            try:
                scans, taps, commands = asyncio.run(load(base, database, args, until))
            finally:
                publisher.join(timeout=max(0, until - time.time()) + 30)
                publisher.kill()
            sent = sent_file.read_text().split()
            stored, rows = asyncio.run(drained(database, sent))
            passes = asyncio.run(passes_recorded(database, commands))
            time.sleep(6)  # the workers write their counters every 5 s
            counted = asyncio.run(bridge_counts(database))
        executed = executed_opens(Path(var), commands)
    report("scans", scans, args.seconds)
    report("door opens", taps, args.seconds)
    lost, doubled = len(sent) - stored, rows - stored
    print(
        f"events       {len(sent):7d} sent  {len(sent) / args.seconds:8.1f}/s   stored {stored}   "
        f"lost {lost}   duplicated {doubled}"
    )
    print("bridge       " + ", ".join(f"{reason} {n}" for reason, n in counted.items()))
    print(
        f"door opens   {len(commands)} answered   {passes} passes recorded   {executed} executed by devices"
    )
    if lost or doubled or not len(commands) == passes == executed:
        raise SystemExit("FAILED: something was lost or doubled")
    print("OK: nothing lost, nothing doubled")


if __name__ == "__main__":
    main()
