"""Reads appended after the head a process knows, in one statement: never a fork, a gap or a lost entry."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest

from backend.audit import service as audit
from backend.audit.tables import AuditEntry
from roles import Principal, Role
from tests.conftest import ROOT
from tests.faults import database_outage
from tests.integration.test_audit import anju_audit, on_postgres

WARDEN = Principal(account_id=7, role=Role.WARDEN, communities=frozenset({1, 2, 3}))

# One app worker: its own process, pool and known heads; bursts of group-committed reads to
# community 1's chain, and now and then a write in a transaction (the locked path). Prints how
# many batches went in by the one statement, so the test knows that path was taken.
WORKER = """
import asyncio, random, sys
from backend.audit import service as audit
from backend.db import bind, engine_for, start_pool
from backend.keys import Keys
from roles import Principal, Role

async def main(url, secret, name, bursts, size):
    engine = engine_for(url)
    await start_pool(engine, 8)
    bind(engine)
    audit.use_keys(Keys(secret.encode()))
    one_statement, append_after = [], audit._append_after

    async def counted(*args):
        appended = await append_after(*args)
        one_statement.append(appended.rows is not None)
        return appended

    audit._append_after = counted
    who = Principal(account_id=7, role=Role.WARDEN, communities=frozenset({1}))
    for burst in range(bursts):
        reads = (audit.record_read(who, "read_household", f"{name}:{burst}:{i}", community=1) for i in range(size))
        await asyncio.gather(*reads)
        if burst % 7 == 3:
            async with engine.transaction():
                await audit.record(who, "update_household", f"{name}:{burst}", community=1)
        await asyncio.sleep(random.random() / 500)
    await engine.close_connection_pool()
    print(sum(one_statement))

asyncio.run(main(*sys.argv[1:4], *map(int, sys.argv[4:6])))
"""


def pg_only() -> None:
    if not on_postgres():
        pytest.skip("the one-statement append is PostgreSQL's; SQLite appends under its one write lock")


async def test_two_workers_appending_reads_to_one_chain_keep_it_gapless_and_intact(client, settings):
    pg_only()
    bursts, size = 60, 8
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            settings.database_url,
            settings.secret_key,
            name,
            str(bursts),
            str(size),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    for worker in workers:
        out, err = await worker.communicate()
        assert worker.returncode == 0, err.decode()[-3000:]
        assert int(out) > 0  # batches did go in by the one statement
    writes = 2 * len([b for b in range(bursts) if b % 7 == 3])
    seqs = [r["seq"] for r in await AuditEntry.select(AuditEntry.seq).where(AuditEntry.chain == 1)]
    assert sorted(seqs) == list(range(1, 2 * bursts * size + writes + 1))  # none lost, none twice
    subjects = await AuditEntry.select(AuditEntry.subject).where(AuditEntry.action == "read_household")
    assert len({r["subject"] for r in subjects}) == 2 * bursts * size
    assert (await audit.verify_chain(1)).intact
    assert anju_audit(settings).returncode == 0


async def test_reads_after_a_write_that_rolled_back_link_to_the_real_head(client):
    """A rolled-back entry must be neither linked to nor skipped over."""
    await audit.record_read(WARDEN, "read_household", "house:1", community=1)
    with pytest.raises(RuntimeError):
        async with AuditEntry._meta.db.transaction():
            await audit.record(WARDEN, "update_household", "house:1", community=1)
            raise RuntimeError("the write fails after its entry")
    await audit.record_read(WARDEN, "read_household", "house:2", community=1)
    await audit.record_read(WARDEN, "read_household", "house:3", community=1)
    report = await audit.verify_chain(1)
    assert report.intact and report.checked == 3


async def test_a_read_overtaken_after_its_snapshot_is_appended_after_the_real_head(client):
    """The unique (chain, seq) is what refuses a batch whose seq another writer took after the
    statement's snapshot (here one that takes no lock, so the race is certain): the batch goes
    in after the real head, neither lost nor forked."""
    pg_only()
    await audit.record_read(WARDEN, "read_household", "house:1", community=1)  # believes head 1
    [head] = await AuditEntry.select(AuditEntry.hash).where(AuditEntry.chain == 1)
    async with AuditEntry._meta.db.transaction():
        overtaking = audit._linked(
            [audit.entry(WARDEN, "read_household", "house:2", community=1)],
            1,
            head["hash"],
            audit._chain_key(),
        )
        await AuditEntry.insert(*(AuditEntry(**audit._storable(row)) for row in overtaking))
        read = asyncio.create_task(audit.record_read(WARDEN, "read_household", "house:3", community=1))
        await asyncio.sleep(0.5)  # the read's statement waits on the unique index for this transaction
    await read
    report = await audit.verify_chain(1)
    assert report.intact and report.checked == 3


async def test_reads_under_a_database_outage_either_fail_or_are_kept_and_the_chain_goes_on(client, settings):
    """Group-committed reads while every connection of the database is terminated, then after: a
    read that returned has its entry, none is written twice, and the chain has no gap or fork."""
    pg_only()
    returned: list[str] = []

    async def read(subject: str) -> None:
        with contextlib.suppress(Exception):  # a read the outage failed tells its caller (503)
            await audit.record_read(WARDEN, "read_household", subject, community=1)
            returned.append(subject)

    async def burst(name: str) -> bool:
        """Eight concurrent reads (a batch or two); whether all of them returned."""
        subjects = [f"{name}:{i}" for i in range(8)]
        await asyncio.gather(*(read(subject) for subject in subjects))
        return set(subjects) <= set(returned)

    for number in range(5):
        assert await burst(f"before:{number}")
    server = urlunsplit(urlsplit(settings.database_url)._replace(path="/postgres"))
    async with database_outage(server, urlsplit(settings.database_url).path.lstrip("/")):
        outage, ends = [], asyncio.get_running_loop().time() + 0.5  # a few rounds of terminations
        while asyncio.get_running_loop().time() < ends:
            outage.append(await burst(f"during:{len(outage)}"))
    assert not all(outage)  # the outage did fail reads
    # The pool may still hand out connections that died while idle: each fails one batch, once.
    recovered = 0
    while not await burst(f"recovering:{recovered}"):
        recovered += 1
        assert recovered < 50, "reads did not recover after the outage"
    for number in range(5):
        assert await burst(f"after:{number}")

    subjects = [
        r["subject"] for r in await AuditEntry.select(AuditEntry.subject).where(AuditEntry.chain == 1)
    ]
    assert len(subjects) == len(set(subjects))  # none twice
    assert set(returned) <= set(subjects)  # none that returned is missing
    report = await audit.verify_chain(1)
    assert report.intact and report.checked == len(subjects)
