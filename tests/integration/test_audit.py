"""The audit trail is hash-chained: editing, deleting or reordering an entry is detected."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from backend.audit import service as audit
from backend.audit.tables import AuditEntry
from roles import Principal, Role

WARDEN = Principal(account_id=7, role=Role.WARDEN, communities=frozenset({1}))


async def _write(n: int) -> None:
    for i in range(n):
        await audit.record(
            WARDEN, "read_household", f"house:{i}", community=1, ip="10.0.0.1", detail={"i": i}
        )


async def test_an_intact_chain_verifies(client):
    await _write(5)
    report = await audit.verify_chain()
    assert report.intact and report.checked == 5


async def test_an_edited_entry_breaks_the_chain(client):
    await _write(5)
    await AuditEntry.update({AuditEntry.subject: "house:999"}).where(AuditEntry.seq == 3)
    report = await audit.verify_chain()
    assert report.broken_at == 3 and report.checked == 2


async def test_a_deleted_entry_breaks_the_chain(client):
    await _write(5)
    await AuditEntry.delete().where(AuditEntry.seq == 2)
    assert (await audit.verify_chain()).broken_at == 3


async def test_a_rehashed_edit_still_breaks_the_next_link(client):
    """Recomputing the edited row's own hash does not help: the next row points at the old one."""
    await _write(4)
    row = await AuditEntry.select().where(AuditEntry.seq == 2).first()
    row["detail"] = {"i": 42}
    await AuditEntry.update({AuditEntry.detail: '{"i": 42}', AuditEntry.hash: audit.entry_hash(row)}).where(
        AuditEntry.seq == 2
    )
    assert (await audit.verify_chain()).broken_at == 3


async def test_concurrent_appends_keep_one_chain(client):
    await asyncio.gather(*(_write(5) for _ in range(4)))
    report = await audit.verify_chain()
    assert report.intact and report.checked == 20


async def test_writes_through_the_api_are_audited(world):
    from tests.integration.test_registration import register

    await register(world)
    actions = [r["action"] for r in await AuditEntry.select(AuditEntry.action).order_by(AuditEntry.seq)]
    assert "register" in actions
    assert (await audit.verify_chain()).intact


async def test_the_cli_reports_a_broken_chain(client, settings):
    await _write(3)
    env = {**os.environ, "ANJU_DATABASE_URL": settings.database_url}
    ok = subprocess.run([sys.executable, "-m", "backend", "audit"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "intact: 3 entries" in ok.stdout
    await AuditEntry.update({AuditEntry.ip: "1.2.3.4"}).where(AuditEntry.seq == 1)
    broken = subprocess.run(
        [sys.executable, "-m", "backend", "audit"], env=env, capture_output=True, text=True
    )
    assert broken.returncode == 1 and "BROKEN at entry 1" in broken.stderr
