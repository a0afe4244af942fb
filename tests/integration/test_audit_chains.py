"""One audit chain per community: chains are independent, yet none can be moved, cut or dropped unseen."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import msgspec
import pytest

from backend.audit import checkpoints
from backend.audit import service as audit
from backend.audit.tables import DISTRICT_CHAIN, LEGACY_CHAIN, AuditEntry
from backend.keys import Keys
from backend.piccolo_app import MIGRATIONS
from backend.settings import Settings
from roles import Principal, Role
from tests.conftest import PG_SERVER, ROOT, _with_database, migrate
from tests.integration.test_audit import anju_audit, on_postgres, tamper

WARDEN = Principal(account_id=7, role=Role.WARDEN, communities=frozenset({1, 2, 3}))
CHAINS_MIGRATION = "anju_2026_11_25t22_30_00_000000.py"


async def write(community: int | None, n: int) -> None:
    for i in range(n):
        await audit.record(WARDEN, "read_household", f"house:{i}", community=community, detail={"i": i})


async def test_each_community_and_the_district_have_their_own_gapless_chain(client):
    await asyncio.gather(write(1, 3), write(2, 5), write(None, 2))
    assert {chain: (await audit.verify_chain(chain)).checked for chain in await audit.chains()} == {
        DISTRICT_CHAIN: 2,
        1: 3,
        2: 5,
    }
    rows = await AuditEntry.select(AuditEntry.chain, AuditEntry.community).where(AuditEntry.chain == 0)
    assert {row["community"] for row in rows} == {None}


async def test_chains_swapped_between_communities_are_detected(client, settings):
    """The chain id is in every link: a chain relabelled as another community's no longer verifies."""
    await write(1, 3)
    await write(2, 3)
    await tamper(
        "UPDATE audit_entry SET chain = 99 WHERE chain = 1",
        "UPDATE audit_entry SET chain = 1 WHERE chain = 2",
        "UPDATE audit_entry SET chain = 2 WHERE chain = 99",
    )
    after = anju_audit(settings)
    assert after.returncode == 1, after.stdout
    assert "community 1 chain BROKEN at entry 1" in after.stderr
    assert "community 2 chain BROKEN at entry 1" in after.stderr


async def test_a_chain_moved_onto_an_unused_community_is_detected(client, settings):
    await write(1, 3)
    await tamper("UPDATE audit_entry SET chain = 9 WHERE chain = 1")
    after = anju_audit(settings)
    assert after.returncode == 1 and "community 9 chain BROKEN at entry 1" in after.stderr


async def test_a_tail_cut_in_one_chain_is_detected_while_the_others_go_on(client, settings):
    await asyncio.gather(write(1, 4), write(2, 4), write(None, 1))
    assert anju_audit(settings).returncode == 0
    await tamper("DELETE FROM audit_entry WHERE chain = 1 AND seq > 2")
    await asyncio.gather(write(2, 4), write(None, 2))
    assert await audit.checkpoint(client.ctx) is None  # the schedule refuses to bless the cut
    after = anju_audit(settings)
    assert after.returncode == 1, after.stdout
    assert "tail cut: checkpoint (community 1 chain entry 4" in after.stderr
    assert "ends at entry 2" in after.stderr


async def test_a_whole_chain_deleted_is_detected(client, settings):
    """A chain no longer in the database is still verified against its checkpointed head."""
    await write(1, 2)
    await write(2, 2)
    assert anju_audit(settings).returncode == 0
    await tamper("DELETE FROM audit_entry WHERE chain = 1")
    await write(2, 1)
    after = anju_audit(settings)
    assert after.returncode == 1, after.stdout
    assert "tail cut: checkpoint (community 1 chain entry 2" in after.stderr


async def test_checkpoints_carry_every_chains_head(client):
    await write(1, 2)
    await write(None, 1)
    first = await audit.checkpoint(client.ctx)
    assert {chain: head.seq for chain, head in first.heads.items()} == {DISTRICT_CHAIN: 1, 1: 2}
    await write(2, 1)
    second = await audit.checkpoint(client.ctx)
    assert {chain: head.seq for chain, head in second.heads.items()} == {DISTRICT_CHAIN: 1, 1: 2, 2: 1}
    assert (await audit.verify(client.ctx)).ok


async def test_reads_group_commit_per_chain(client):
    reads = [
        audit.record_read(WARDEN, "read_household", f"house:{i}", community=i % 4 or None) for i in range(40)
    ]
    await asyncio.gather(*reads)
    reports = [await audit.verify_chain(chain) for chain in await audit.chains()]
    assert all(r.intact for r in reports) and sorted(r.checked for r in reports) == [10, 10, 10, 10]


async def test_many_chains_appended_from_many_connections_stay_gapless(client):
    """Writes (each its own transaction) and group-committed reads, 8 communities at once, on the pool."""
    if not on_postgres():
        pytest.skip("SQLite has one writer at a time; the per-chain locks are PostgreSQL's")

    async def one_community(community: int) -> None:
        for i in range(10):
            await audit.record(WARDEN, "update_household", f"house:{i}", community=community)
            await asyncio.gather(
                *(
                    audit.record_read(WARDEN, "read_household", f"house:{i}", community=community)
                    for _ in range(3)
                )
            )

    await asyncio.gather(*(one_community(c) for c in range(1, 9)))
    for chain in range(1, 9):
        seqs = [r["seq"] for r in await AuditEntry.select(AuditEntry.seq).where(AuditEntry.chain == chain)]
        assert sorted(seqs) == list(range(1, 41))
        assert (await audit.verify_chain(chain)).intact


async def test_one_communitys_open_transaction_does_not_hold_up_another(client):
    """While a write in community 1 holds its chain's lock, community 2 appends; community 1 waits."""
    if not on_postgres():
        pytest.skip("SQLite has one writer at a time; the per-chain locks are PostgreSQL's")
    locked, release = asyncio.Event(), asyncio.Event()

    async def slow_write_in_community_1() -> None:
        async with AuditEntry._meta.db.transaction():
            await audit.record(WARDEN, "update_household", "house:1", community=1)
            locked.set()
            await release.wait()

    holder = asyncio.create_task(slow_write_in_community_1())
    await locked.wait()
    try:
        async with asyncio.timeout(30):  # a liveness bound, not a timing: a global lock never returns
            await audit.record(WARDEN, "update_household", "house:2", community=2)
            await audit.record_read(WARDEN, "read_household", "house:2", community=2)
        same_chain = asyncio.create_task(audit.record(WARDEN, "update_household", "house:3", community=1))
        await asyncio.sleep(0.2)
        assert not same_chain.done()  # queued behind the open transaction's lock
    finally:
        release.set()
        await holder
    await same_chain
    assert [(await audit.verify_chain(c)).checked for c in (1, 2)] == [2, 2]


# The legacy chain: entries written before per-community chains, by the formula of that time.


def _legacy_link(row: dict, key: bytes) -> str:
    content = [
        row["seq"],
        row["at"].isoformat(timespec="microseconds"),
        row["actor"],
        row["actor_role"],
        row["action"],
        row["subject"],
        row["community"],
        row["ip"],
        row["detail"],
        row["prev_hash"],
    ]
    return hmac.new(key, msgspec.json.encode(content, order="sorted"), hashlib.sha256).hexdigest()


def legacy_rows(keys: Keys, n: int) -> list[dict]:
    prev, rows = audit.GENESIS, []
    for seq in range(1, n + 1):
        row = {
            "seq": seq,
            "at": datetime(2026, 11, 1, 12, seq, tzinfo=UTC),
            "actor": 7,
            "actor_role": "warden",
            "action": "read_household",
            "subject": f"house:{seq}",
            "community": seq % 2 + 1,
            "ip": "10.0.0.1",
            "detail": {"i": seq},
            "prev_hash": prev,
        }
        row["hash"] = prev = _legacy_link(row, keys.audit_chain)
        rows.append(row)
    return rows


def legacy_checkpoint(settings: Settings, keys: Keys, seq: int, head: str) -> None:
    """A checkpoint line as written before per-community chains."""
    at = "2026-11-01T13:00:00+00:00"
    sig = keys.audit_checkpoint_key.sign(msgspec.json.encode(["anju-audit-checkpoint", seq, head, at]))
    path = checkpoints.path_in(settings.checkpoint_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(json.dumps({"seq": seq, "head": head, "at": at, "sig": sig.hex()}) + "\n")


def migrate_before_chains(url: str, var: Path) -> None:
    files = sorted(p.name for p in MIGRATIONS.glob("anju_*.py"))
    before = files[files.index(CHAINS_MIGRATION) - 1]
    spec = importlib.util.spec_from_file_location("before", MIGRATIONS / before)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = (
        "import asyncio, sys; from piccolo.apps.migrations.commands.forwards import run_forwards;"
        f"r = asyncio.run(run_forwards(app_name='anju', migration_id={module.ID!r})); sys.exit(not r.success)"
    )
    env = {"ANJU_DATABASE_URL": url, "ANJU_VAR_DIR": str(var), "PICCOLO_CONF": "backend.piccolo_conf"}
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, cwd=ROOT)
    assert done.returncode == 0


@contextlib.asynccontextmanager
async def fresh_database(like: str, tmp_path: Path):
    """A new, empty database on the engine of ``like``."""
    if like.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/legacy.sqlite"
        return
    name = f"anju_legacy_{secrets.token_hex(4)}"
    await run_on(PG_SERVER, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(PG_SERVER, name)
    finally:
        await run_on(PG_SERVER, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_on(url: str, sql: str, *values) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql, *values)
    finally:
        await connection.close()


LINK_COLUMNS = (
    "seq",
    "at",
    "actor",
    "actor_role",
    "action",
    "subject",
    "community",
    "ip",
    "detail",
    "prev_hash",
    "hash",
)


async def insert(url: str, row: dict, *, chain: int | None = None) -> None:
    """Insert one audit row as it is, with no chain column unless ``chain`` is given."""
    columns = (("chain",) if chain is not None else ()) + LINK_COLUMNS
    values = ([chain] if chain is not None else []) + [
        json.dumps(row["detail"]) if c == "detail" else row[c] for c in LINK_COLUMNS
    ]
    sql = f"INSERT INTO audit_entry ({', '.join(columns)}) VALUES ({{}})"
    if url.startswith("sqlite"):
        values = [v.isoformat() if isinstance(v, datetime) else v for v in values]
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db, db:
            db.execute(sql.format(", ".join("?" for _ in values)), values)
        return
    await run_on(url, sql.format(", ".join(f"${i}" for i in range(1, len(values) + 1))), *values)


async def test_the_global_chain_of_before_stays_verifiable_as_the_legacy_chain(settings, tmp_path):
    """Entries and a checkpoint line written before the chains migration verify after it, as the legacy chain."""
    keys = Keys(settings.secret())
    async with fresh_database(settings.database_url, tmp_path) as url:
        migrate_before_chains(url, tmp_path)
        rows = legacy_rows(keys, 3)
        for row in rows:
            await insert(url, row)
        legacy = msgspec.structs.replace(settings, database_url=url)
        legacy_checkpoint(legacy, keys, 3, rows[-1]["hash"])

        migrate(url, tmp_path)
        after = anju_audit(legacy)
        assert after.returncode == 0, after.stderr
        assert "intact: 3 entries in 1 chain(s)" in after.stdout
        assert "matches the last signed checkpoint: 3 entries in 1 chain(s)" in after.stdout

        new = {**rows[0], "chain": 1, "seq": 1, "at": datetime.now(UTC), "prev_hash": audit.GENESIS}
        new["hash"] = audit.entry_hash(new, keys.audit_chain)
        await insert(url, new, chain=1)
        both = anju_audit(legacy)
        assert both.returncode == 0, both.stderr
        assert "intact: 4 entries in 2 chain(s)" in both.stdout

        await insert(
            url, {**rows[-1], "seq": 4, "prev_hash": rows[-1]["hash"]}
        )  # forged, in the legacy chain
        forged = anju_audit(legacy)
        assert (
            forged.returncode == 1
            and f"{checkpoints.chain_name(LEGACY_CHAIN)} BROKEN at entry 4" in forged.stderr
        )


async def test_an_empty_chain_checkpointed_before_the_chains_does_not_block_checkpoints(client, settings):
    """On main an empty trail was checkpointed as entry 0; that line must not read as a cut."""
    legacy_checkpoint(settings, client.ctx.keys, 0, audit.GENESIS)
    await write(1, 1)
    assert (await audit.checkpoint(client.ctx)).heads[1].seq == 1
    assert (await audit.verify(client.ctx)).ok


async def test_a_checkpoint_line_longer_than_a_read_chunk_is_read_back_whole(client, settings):
    """A line holds every chain's head: with many communities it outgrows any fixed tail read."""
    for community in range(1, 101):
        await write(community, 1)
    first = await audit.checkpoint(client.ctx)
    assert len(msgspec.json.encode(first)) > 4096
    assert await audit.checkpoint(client.ctx) is None  # the same heads: not written twice
    assert len(checkpoints.path_in(settings.checkpoint_dir).read_text().splitlines()) == 1
