"""Audit appends per second on PostgreSQL: the same load spread over 1 community vs 8.

Concurrent tasks on one connection pool append to the audit trail through the service's public
calls: writes (``record`` inside a transaction that goes on for ``--hold-ms`` after the entry,
standing in for the rest of a domain write, which keeps its chain's lock that long) and reads
(``record_read``, group-committed). With one chain for the whole trail the communities queue on
one lock; with one chain per community they should not.

    .venv/bin/python bench/audit.py [--tasks 32] [--seconds 5] [--hold-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from piccolo.engine.postgres import PostgresEngine  # noqa: E402

from backend.audit import service as audit  # noqa: E402
from backend.audit.tables import AuditEntry  # noqa: E402
from backend.db import bind, transaction  # noqa: E402
from backend.keys import Keys  # noqa: E402
from bench._harness import anju, environment, fresh_database  # noqa: E402
from roles import Principal, Role  # noqa: E402

WARDEN = Principal(account_id=1, role=Role.WARDEN, communities=frozenset(range(1, 9)))


async def appends_per_second(kind: str, communities: int, tasks: int, seconds: float, hold: float) -> float:
    engine = AuditEntry._meta.db
    done, deadline = 0, time.monotonic() + seconds

    async def write(community: int) -> None:
        async with transaction(engine):
            await audit.record(WARDEN, "update_household", "house:1", community=community)
            await asyncio.sleep(hold)

    async def read(community: int) -> None:
        await audit.record_read(WARDEN, "read_household", "house:1", community=community)

    append = write if kind == "writes" else read

    async def worker(number: int) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await append(number % communities + 1)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(tasks)))
    return done / (time.monotonic() - started)


async def bench(database: str, args: argparse.Namespace) -> None:
    engine = PostgresEngine(config={"dsn": database})
    await engine.start_connection_pool(min_size=args.tasks, max_size=args.tasks + 2)
    bind(engine)
    audit.use_keys(Keys(secrets.token_bytes(32)))
    try:
        for kind in ("writes", "reads"):
            rates = {
                n: await appends_per_second(kind, n, args.tasks, args.seconds, args.hold_ms / 1000)
                for n in (1, 8)
            }
            print(
                f"{kind:>6}: 1 community {rates[1]:8.0f}/s   8 communities {rates[8]:8.0f}/s   "
                f"ratio {rates[8] / rates[1]:.2f}"
            )
    finally:
        await engine.close_connection_pool()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--hold-ms", type=float, default=2)
    args = parser.parse_args()
    with fresh_database() as database:
        anju("migrate", environment(database, "mqtt://127.0.0.1:1883"))
        print(f"audit appends, {args.tasks} tasks, {args.seconds:g} s each, writes hold {args.hold_ms:g} ms:")
        asyncio.run(bench(database, args))


if __name__ == "__main__":
    main()
