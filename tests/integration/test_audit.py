"""The audit trail is a keyed hash chain with signed checkpoints: editing, deleting, reordering or cutting is detected."""

from __future__ import annotations

import asyncio
import stat
import subprocess
from pathlib import Path

import msgspec

from backend.app import create_app
from backend.audit import checkpoints
from backend.audit import service as audit
from backend.audit.tables import AuditEntry
from backend.db import is_postgres
from backend.settings import Settings
from roles import Principal, Role
from tests.conftest import anju
from tests.integration.conftest import lifespan

WARDEN = Principal(account_id=7, role=Role.WARDEN, communities=frozenset({1}))


async def write_entries(n: int) -> None:
    for i in range(n):
        await audit.record(
            WARDEN, "read_household", f"house:{i}", community=1, ip="10.0.0.1", detail={"i": i}
        )


def anju_audit(settings: Settings) -> subprocess.CompletedProcess:
    """``anju audit`` as the operator runs it, against the test's database, secret and var dir."""
    env = {
        "ANJU_DATABASE_URL": settings.database_url,
        "ANJU_SECRET_KEY": settings.secret_key,
        "ANJU_VAR_DIR": settings.var_dir,
    }
    return anju("audit", env=env)


def on_postgres() -> bool:
    return is_postgres(AuditEntry._meta.db)


async def tamper(*statements: str | tuple) -> None:
    """Run raw SQL against the audit table as a database superuser would.

    On PostgreSQL the append-only trigger stands in the way, so the superuser disables it first.
    A statement is SQL, or (SQL, *values) for Piccolo's ``{}`` placeholders.
    """
    async with AuditEntry._meta.db.transaction():
        if on_postgres():
            await AuditEntry.raw("ALTER TABLE audit_entry DISABLE TRIGGER USER")
        for statement in statements:
            sql, *values = (statement,) if isinstance(statement, str) else statement
            await AuditEntry.raw(sql, *values)
        if on_postgres():
            await AuditEntry.raw("ALTER TABLE audit_entry ENABLE TRIGGER USER")


def checkpoint_file(settings: Settings) -> Path:
    return checkpoints.path_in(settings.checkpoint_dir)


async def test_an_intact_chain_verifies(client):
    await write_entries(5)
    report = await audit.verify_chain(1)
    assert report.intact and report.checked == 5


async def test_an_edited_entry_breaks_the_chain(client):
    await write_entries(5)
    await tamper("UPDATE audit_entry SET subject = 'house:999' WHERE seq = 3")
    report = await audit.verify_chain(1)
    assert report.broken_at == 3 and report.checked == 2


async def test_a_deleted_entry_breaks_the_chain(client):
    await write_entries(5)
    await tamper("DELETE FROM audit_entry WHERE seq = 2")
    assert (await audit.verify_chain(1)).broken_at == 3


async def test_a_rehashed_edit_still_breaks_the_next_link(client):
    """Even with the key, recomputing the edited row's own hash does not help: the next row points at the old one."""
    await write_entries(4)
    row = await AuditEntry.select().where(AuditEntry.seq == 2).first()
    row["detail"] = {"i": 42}
    rehashed = audit.entry_hash(row, client.ctx.keys.audit_chain)
    await tamper(("UPDATE audit_entry SET detail = {}, hash = {} WHERE seq = 2", '{"i": 42}', rehashed))
    assert (await audit.verify_chain(1)).broken_at == 3


async def test_concurrent_appends_keep_one_chain(client):
    await asyncio.gather(*(write_entries(5) for _ in range(4)))
    report = await audit.verify_chain(1)
    assert report.intact and report.checked == 20


async def test_writes_through_the_api_are_audited(world):
    from tests.integration.test_registration import register

    await register(world)
    actions = [r["action"] for r in await AuditEntry.select(AuditEntry.action).order_by(AuditEntry.seq)]
    assert "register" in actions
    assert all([(await audit.verify_chain(chain)).intact for chain in await audit.chains()])


async def test_the_cli_reports_a_broken_chain(client, settings):
    await write_entries(3)
    ok = anju_audit(settings)
    assert ok.returncode == 0, ok.stderr
    assert "intact: 3 entries" in ok.stdout and "new checkpoint: 3 entries in 1 chain(s)" in ok.stdout
    await tamper("UPDATE audit_entry SET ip = '1.2.3.4' WHERE seq = 1")
    broken = anju_audit(settings)
    assert broken.returncode == 1 and "BROKEN at entry 1" in broken.stderr
    assert "last signed checkpoint: 3 entries in 1 chain(s)" in broken.stderr


async def test_the_cli_compares_with_the_last_checkpoint_and_adds_one(client, settings):
    await write_entries(2)
    assert anju_audit(settings).returncode == 0
    await write_entries(1)
    again = anju_audit(settings)
    assert again.returncode == 0, again.stderr
    assert "matches the last signed checkpoint: 2 entries in 1 chain(s)" in again.stdout
    assert "new checkpoint: 3 entries in 1 chain(s)" in again.stdout


async def test_checkpoints_are_written_only_when_the_head_moved(client, settings):
    await write_entries(2)
    written = [await audit.checkpoint(client.ctx) for _ in range(3)]
    assert [c.heads[1].seq if c else None for c in written] == [2, None, None]
    await write_entries(1)
    assert (await audit.checkpoint(client.ctx)).heads[1].seq == 3
    assert len(checkpoint_file(settings).read_text().splitlines()) == 2


async def test_concurrent_checkpoint_writers_write_one_line(client, settings):
    """Several app processes share the directory: the file lock keeps them from doubling up."""
    await write_entries(2)
    await asyncio.gather(*(audit.checkpoint(client.ctx) for _ in range(8)))
    assert len(checkpoint_file(settings).read_text().splitlines()) == 1


async def test_the_checkpoint_directory_and_file_are_owner_only(client, settings):
    await write_entries(1)
    await audit.checkpoint(client.ctx)
    assert stat.S_IMODE(settings.checkpoint_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(checkpoint_file(settings).stat().st_mode) == 0o600


async def test_the_app_checkpoints_on_its_schedule(client, settings):
    """A second app with a schedule of a split second; waits for its line (no timing is asserted)."""
    fast = msgspec.structs.replace(settings, audit_checkpoint_minutes=0.001)
    async with lifespan(create_app(fast)), asyncio.timeout(60):
        await write_entries(2)
        while '"1":[2,' not in (checkpoint_file(fast).read_text() if checkpoint_file(fast).exists() else ""):
            await asyncio.sleep(0.05)
    assert (await audit.verify(client.ctx)).ok
