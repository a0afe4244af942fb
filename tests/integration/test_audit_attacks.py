"""The audit trail as an attacker with write access to the database would try to rewrite it.

Whoever can write the database but holds neither the root secret nor the checkpoint directory
must not be able to cut the trail's tail or rewrite it without ``anju audit`` noticing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import stat

import asyncpg
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.audit import service as audit
from backend.audit.checkpoints import Checkpoint, Head
from backend.audit.tables import AuditEntry
from backend.settings import Settings
from tests.conftest import ROOT, migrate
from tests.integration.test_audit import anju_audit, checkpoint_file, on_postgres, tamper, write_entries


def _sha256_link(row: dict) -> str:
    """The unkeyed link hash anyone can compute (the chain's formula on main)."""
    return hashlib.sha256(audit.link_content(row)).hexdigest()


async def rehash_without_the_key(edit_seq: int) -> str:
    """Rewrite one entry's detail, then re-hash the whole chain end to end; returns the new head."""
    rows = await AuditEntry.select().where(AuditEntry.chain == 1).order_by(AuditEntry.seq)
    prev, statements = "0" * 64, []
    for row in rows:
        if row["seq"] == edit_seq:
            row["detail"] = {"i": 999}
        row["prev_hash"] = prev
        prev = _sha256_link(row)
        detail = row["detail"] if isinstance(row["detail"], dict) else json.loads(row["detail"])
        statements.append(
            (
                "UPDATE audit_entry SET detail = {}, prev_hash = {}, hash = {} WHERE chain = 1 AND seq = {}",
                json.dumps(detail),
                row["prev_hash"],
                prev,
                row["seq"],
            )
        )
    await tamper(*statements)
    return prev


def forge_checkpoint(settings: Settings, seq: int, head: str) -> None:
    """Replace the checkpoints with one signed by a key of the attacker's own (they lack the root secret)."""
    unsigned = Checkpoint(heads={1: Head(seq, head)}, at="2026-11-25T20:00:00+00:00")
    forged = msgspec.structs.replace(
        unsigned, sig=Ed25519PrivateKey.generate().sign(unsigned.payload()).hex()
    )
    path = checkpoint_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.encode(forged) + b"\n")


@pytest.mark.parametrize("cut", [1, 3])
async def test_a_tail_cut_is_detected_against_the_checkpoint(client, settings, cut):
    await write_entries(6)
    first = anju_audit(settings)
    assert first.returncode == 0, first.stderr
    assert "intact: 6 entries" in first.stdout

    await tamper(f"DELETE FROM audit_entry WHERE seq > {6 - cut}")
    after = anju_audit(settings)
    assert after.returncode == 1, after.stdout
    assert "tail cut" in after.stderr and "entry 6" in after.stderr


async def test_the_scheduled_checkpoint_does_not_bless_a_tail_cut(client, settings):
    await write_entries(4)
    assert anju_audit(settings).returncode == 0
    await tamper("DELETE FROM audit_entry WHERE seq > 2")
    await audit.checkpoint(client.ctx)
    after = anju_audit(settings)
    assert after.returncode == 1 and "tail cut" in after.stderr


async def test_a_cut_and_continued_chain_is_detected(client, settings):
    """Cut the tail, then let the app go on appending past the checkpointed length."""
    await write_entries(4)
    assert anju_audit(settings).returncode == 0
    await tamper("DELETE FROM audit_entry WHERE seq > 2")
    await write_entries(4)
    await audit.checkpoint(client.ctx)
    after = anju_audit(settings)
    assert after.returncode == 1 and "entry 4" in after.stderr and "rewritten" in after.stderr


async def test_a_full_rehash_without_the_key_is_detected(client, settings):
    await write_entries(5)
    await rehash_without_the_key(edit_seq=3)
    after = anju_audit(settings)
    assert after.returncode == 1, after.stdout
    assert "BROKEN at entry 1" in after.stderr


async def test_a_rehash_with_a_rewritten_checkpoint_file_is_detected(client, settings):
    await write_entries(5)
    assert anju_audit(settings).returncode == 0
    head = await rehash_without_the_key(edit_seq=3)
    forge_checkpoint(settings, 5, head)
    after = anju_audit(settings)
    assert after.returncode == 1, after.stdout
    assert "BROKEN at entry 1" in after.stderr and "no valid signature" in after.stderr


async def test_a_tail_cut_with_a_forged_checkpoint_is_detected(client, settings):
    """The kept prefix still verifies, so only the checkpoint's signature can give the cut away."""
    await write_entries(5)
    assert anju_audit(settings).returncode == 0
    await tamper("DELETE FROM audit_entry WHERE seq > 3")
    head = (await AuditEntry.select(AuditEntry.hash).where(AuditEntry.seq == 3).first())["hash"]
    forge_checkpoint(settings, 3, head)
    after = anju_audit(settings)
    assert after.returncode == 1, after.stdout
    assert "no valid signature" in after.stderr


@pytest.mark.parametrize(
    "sql", ["UPDATE audit_entry SET subject = 'house:999' WHERE seq = 2", "DELETE FROM audit_entry"]
)
async def test_postgres_refuses_update_and_delete_on_the_audit_table(client, sql):
    if not on_postgres():
        pytest.skip("the append-only trigger is PostgreSQL's; SQLite relies on the keyed chain")
    await write_entries(3)
    with pytest.raises(asyncpg.exceptions.PostgresError, match="append-only"):
        await AuditEntry.raw(sql)
    assert len(await AuditEntry.select(AuditEntry.seq)) == 3
    assert (await audit.verify_chain(1)).intact


def app_role_statements(role: str) -> list[str]:
    """The README's app-role grants, for a role of the test's own."""
    text = (ROOT / "deploy" / "postgres-app-role.sql").read_text()
    sql = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    return [s.strip().replace("anju_app", f'"{role}"') for s in sql.split(";") if s.strip()]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_entry SET subject = 'house:999'",
        "DELETE FROM audit_entry",
        "TRUNCATE audit_entry",
        "ALTER TABLE audit_entry DISABLE TRIGGER USER",
        "DROP TRIGGER audit_entry_append_only ON audit_entry",
    ],
)
async def test_the_documented_app_role_can_only_append_to_the_audit_table(client, settings, sql):
    if not on_postgres():
        pytest.skip("database roles are PostgreSQL's")
    await write_entries(2)
    role = f"anju_app_{secrets.token_hex(4)}"
    await AuditEntry.raw(f'CREATE ROLE "{role}" LOGIN')
    try:
        for statement in app_role_statements(role):
            await AuditEntry.raw(statement)
        app = await asyncpg.connect(settings.database_url, user=role)
        try:
            assert await app.fetchval("SELECT count(*) FROM audit_entry") == 2
            await app.execute(
                "INSERT INTO audit_entry (seq, at, action, subject, prev_hash, hash) "
                "VALUES (3, now(), 'x', 'y', '', '')"
            )
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                await app.execute(sql)
        finally:
            await app.close()
    finally:
        await AuditEntry.raw(f'DROP OWNED BY "{role}"')
        await AuditEntry.raw(f'DROP ROLE "{role}"')
    assert len(await AuditEntry.select(AuditEntry.seq)) == 3


def test_a_new_sqlite_database_file_and_its_journal_are_owner_only(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh.sqlite"
    migrate(url, tmp_path)
    assert stat.S_IMODE((tmp_path / "fresh.sqlite").stat().st_mode) == 0o600
    with contextlib.closing(sqlite3.connect(tmp_path / "fresh.sqlite", isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO district (name, code) VALUES ('x', 'x')")
        assert stat.S_IMODE((tmp_path / "fresh.sqlite-journal").stat().st_mode) == 0o600
        db.execute("ROLLBACK")
