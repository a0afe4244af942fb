"""Visitor passes: offline verifications per second on one core, and tap → open through the server.

First a door's work alone: verify a signed pass token (qr/passes.py, Ed25519) against the community's
public key, in this process (one core), for ``--seconds``. Then the share link's "open" button as a
visitor taps it: server (revocation, window, uses, door) → signed MQTT command → simulated gate → ack
→ response, over a fresh PostgreSQL database and a Mosquitto of its own, one tap at a time and then
``--parallel`` visitors at once (each with a pass of their own), p50/p99 (as bench/door_open.py does for residents).

    .venv/bin/python bench/pass_verify.py [--seconds 3] [--taps 300] [--parallel 8]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import segno

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.keys import Keys  # noqa: E402
from backend.seed import demo_phone  # noqa: E402
from bench.door_open import measure_taps  # noqa: E402
from qr import passes  # noqa: E402
from roles import Role  # noqa: E402

USES_PER_PASS = 50  # the most a pass allows


def offline(seconds: float) -> None:
    keys = Keys(b"bench-" + b"x" * 32)
    now = datetime.now(UTC).replace(microsecond=0)  # tokens carry whole seconds
    claims = passes.Claims(
        pass_id=123456,
        community=1,
        doors=(1, 7),
        valid_from=now,
        valid_until=now + timedelta(hours=4),
        uses=4,
    )
    token = passes.sign(claims, keys.pass_key(1))
    key = passes.public_key(keys.pass_public_key(1))
    code = segno.make(token, error="m")
    print(f"token: {len(token)} characters, QR version {code.version}-{code.error} ({code.mode} mode)")
    verified, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(200):
            assert passes.verify(token, key, 7, now) == claims
        verified += 200
    print(
        f"offline verification, one core: {verified / elapsed:,.0f} passes/s ({elapsed / verified * 1e6:.1f} µs each)"
    )


async def _shares(client: httpx.AsyncClient, headers: dict, count: int) -> list[str]:
    now = datetime.now(UTC)
    body = {
        "visitor_name": "压测 访客",
        "valid_from": now.isoformat(),
        "valid_until": (now + timedelta(hours=4)).isoformat(),
        "uses": USES_PER_PASS,
    }
    shares = []
    for _ in range(count):
        response = await client.post("/api/passes", json=body, headers=headers)
        assert response.status_code == 201, response.text
        shares.append(response.json()["share_url"].rsplit("/v/", 1)[1])
    return shares


async def taps(base: str, count: int, parallel: int) -> list[float]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        phone = demo_phone(Role.RESIDENT)
        await client.post("/api/auth/code", json={"phone": phone})
        tokens = (await client.post("/api/auth/token", json={"phone": phone, "code": "123456"})).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        warm_up = 10
        # One pass per visitor, taps spread over them as different visitors tap in parallel
        # (a pass's uses are one row: its own taps queue on it).
        passes_needed = max(parallel, (count + warm_up) // USES_PER_PASS + 1)
        shares = itertools.cycle(await _shares(client, headers, passes_needed))
        gate = (await client.get(f"/api/shared-passes/{next(shares)}")).json()["doors"][0]["id"]
        latencies: list[float] = []

        async def tap() -> None:  # the visitor's browser: no account, the share token and a tap key
            share = next(shares)
            started = time.perf_counter()
            response = await client.post(
                f"/api/shared-passes/{share}/doors/{gate}/open", headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert response.status_code == 200 and response.json()["opened"], response.text
            latencies.append(time.perf_counter() - started)

        for _ in range(warm_up):
            await tap()
        latencies.clear()
        remaining = count
        while remaining:
            batch = min(parallel, remaining)
            await asyncio.gather(*(tap() for _ in range(batch)))
            remaining -= batch
        return latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--taps", type=int, default=300)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    offline(args.seconds)
    measure_taps(
        "visitor tap → pass checks → signed MQTT command → simulated gate → ack → response",
        taps,
        args.taps,
        args.parallel,
    )


if __name__ == "__main__":
    main()
