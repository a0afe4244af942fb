"""Retention: old months leave the live tables for checksummed files and come back byte for byte.

Records are made by the real flows (passes over MQTT through the bridge, an alarm raised and
closed through the API), then dated back by rewriting their time: the archive sees old rows as
the city's database would have them after months.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest

from backend.access.tables import AccessRecord
from backend.alarms.kinds import AlarmType
from backend.alarms.tables import Alarm, AlarmStep
from backend.archive import service
from backend.archive.kinds import RECORD_TYPES
from backend.archive.service import LOCAL, Files, bounds, release, restore, run
from backend.errors import Conflict
from backend.seed import DEMO_CARDS
from backend.settings import Settings, SettingsError
from device_bridge.bridge import running
from roles import Role
from tests.conftest import anju_beside
from tests.integration.test_alarms import signal
from tests.integration.test_bridge import Fleet, eventually, new_bridge
from tests.integration.test_credentials import passes


def month_back(days: int) -> str:
    moment = (datetime.now(UTC) - timedelta(days=days)).astimezone(LOCAL)
    return f"{moment.year:04d}-{moment.month:02d}"


OLD, RECENT = month_back(300), month_back(100)  # past the 183 days of retention, and not yet


def in_month(month: str, day: int = 15) -> datetime:
    start = bounds(month)[0].astimezone(LOCAL)
    return start.replace(day=day, hour=12).astimezone(UTC)


@pytest.fixture
async def history(world, settings):
    """Five passes (cards, a face) and a closed alarm with its steps, dated back: three passes and
    the alarm in an old month (one pass in its first local hour, still the previous month in UTC),
    one pass in a recent month, one today."""
    async with running(new_bridge(world, settings)):
        records = await passes(
            Fleet(world, settings),
            {"method": "card", "credential": DEMO_CARDS[0]},
            {"method": "face"},
            {"method": "card", "credential": DEMO_CARDS[0], "direction": "out"},
            {"method": "card", "credential": "55501234"},
            {"method": "face", "direction": "out"},
        )
    first_hour = bounds(OLD)[0] + timedelta(minutes=30)
    for record, at in zip(
        records, (in_month(OLD), in_month(OLD, 20), first_hour, in_month(RECENT)), strict=False
    ):
        await AccessRecord.update({AccessRecord.at: at}).where(AccessRecord.id == record.id)
    alarm = await closed_alarm(world)
    await Alarm.update({Alarm.closed_at: in_month(OLD, 3)}).where(Alarm.id == alarm)
    ids = [r.id for r in records]
    return {"old": sorted(ids[:3]), "recent": ids[3], "today": ids[4], "alarm": alarm}


async def closed_alarm(world) -> int:
    alarm = await signal(world, "sos-1", AlarmType.EMERGENCY, "archive-1")
    for state, note, role in (
        ("acknowledged", "已联系", Role.WARDEN),
        ("resolved", "误触，已复位", Role.WARDEN),
    ):
        response = await world.client.post(
            f"/api/alarms/{alarm.id}/steps",
            json={"state": state, "note": note},
            headers=await world.headers(role),
        )
        assert response.status_code == 201, response.text
    return alarm.id


async def stored(settings: Settings, table: str, ids: list[int]) -> list:
    """The rows as the database holds them: SQLite's stored values, PostgreSQL's text of each row."""
    if settings.database_url.startswith("sqlite"):
        path = settings.database_url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as db:
            marks = ", ".join("?" for _ in ids)
            return db.execute(f'SELECT * FROM "{table}" WHERE id IN ({marks}) ORDER BY id', ids).fetchall()
    connection = await asyncpg.connect(settings.database_url)
    try:
        rows = await connection.fetch(
            f'SELECT t::text FROM "{table}" t WHERE id = ANY($1::int[]) ORDER BY id', ids
        )
        return [row[0] for row in rows]
    finally:
        await connection.close()


async def snapshot(settings: Settings, history: dict) -> dict:
    steps = [s["id"] for s in await AlarmStep.select(AlarmStep.id).where(AlarmStep.alarm == history["alarm"])]
    return {
        "access_record": await stored(settings, "access_record", history["old"]),
        "alarm": await stored(settings, "alarm", [history["alarm"]]),
        "alarm_step": await stored(settings, "alarm_step", steps),
        "steps": steps,
    }


def lines(settings: Settings, kind: str, month: str) -> list[dict]:
    with gzip.open(Files(settings, RECORD_TYPES[kind], month).data) as f:
        return [json.loads(line) for line in f]


async def test_old_months_go_to_checksummed_files_and_come_back_byte_identical(world, settings, history):
    before = await snapshot(settings, history)
    assert len(before["steps"]) == 3  # raised, acknowledged, resolved

    done = await run(settings, say=lambda _: None)

    assert {(a.record_type, a.month) for a in done} == {("access", OLD), ("alarm", OLD)}
    for kind in ("access", "alarm"):
        files = Files(settings, RECORD_TYPES[kind], OLD)
        digest = hashlib.sha256(files.data.read_bytes()).hexdigest()
        assert files.sums.read_text() == f"{digest}  {OLD}.jsonl.gz\n"
    archived = lines(settings, "access", OLD)
    assert [int(r["row"]["id"]) for r in archived] == history["old"]  # by id
    [alarm] = lines(settings, "alarm", OLD)
    assert len(alarm["alarm_step"]) == 3  # the steps went with their alarm
    # Sealed stays sealed: the file holds the sealed ID number as stored, never the number itself.
    sealed = [r["row"]["id_number_sealed"] for r in archived]
    assert any(sealed) and all(not s or world.ctx.keys.unseal(s) not in json.dumps(archived) for s in sealed)
    # Gone from the live tables; the recent month and today's pass stay.
    assert await stored(settings, "access_record", history["old"]) == []
    assert await stored(settings, "alarm_step", before["steps"]) == []
    assert await AccessRecord.count().where(AccessRecord.id.is_in([history["recent"], history["today"]])) == 2

    restored = await restore(settings, "access", OLD)
    assert (restored.inserted, restored.present) == (3, 0)
    assert (await restore(settings, "alarm", OLD)).inserted == 4
    assert await snapshot(settings, history) == before
    assert (await restore(settings, "access", OLD)).present == 3  # a second restore changes nothing
    assert await snapshot(settings, history) == before

    # Held for the investigation, then released: archived again into the very same bytes.
    first = {kind: Files(settings, RECORD_TYPES[kind], OLD).data.read_bytes() for kind in ("access", "alarm")}
    assert await run(settings, say=lambda _: None) == []
    assert release(settings, "access", OLD) and release(settings, "alarm", OLD)
    again = await run(settings, say=lambda _: None)
    assert {(a.record_type, a.records) for a in again} == {("access", 3), ("alarm", 1)}  # each row once
    for kind, data in first.items():
        assert Files(settings, RECORD_TYPES[kind], OLD).data.read_bytes() == data
    assert await stored(settings, "access_record", history["old"]) == []


async def test_a_tampered_archive_is_refused(world, settings, history):
    await run(settings, only="access", say=lambda _: None)
    files = Files(settings, RECORD_TYPES["access"], OLD)
    rows = lines(settings, "access", OLD)
    rows[0]["row"]["granted"] = 0 if rows[0]["row"]["granted"] in (1, "true") else 1
    files.data.write_bytes(gzip.compress(b"".join(service.canonical(r) for r in rows), mtime=0))

    with pytest.raises(Conflict, match="does not match"):
        await restore(settings, "access", OLD)
    assert await stored(settings, "access_record", history["old"]) == []
    done = await cli(settings, "archive", "restore", "--type", "access", "--month", OLD)
    assert done.returncode != 0 and "does not match" in done.stderr, done.stdout + done.stderr
    listed = await cli(settings, "archive", "list")
    assert "DOES NOT MATCH ITS CHECKSUM" in listed.stdout, listed.stdout + listed.stderr
    # Nor is it merged with rows of the same month archived later.
    await AccessRecord.update({AccessRecord.at: in_month(OLD)}).where(AccessRecord.id == history["recent"])
    with pytest.raises(Conflict, match="does not match"):
        await run(settings, only="access", say=lambda _: None)
    assert await AccessRecord.exists().where(AccessRecord.id == history["recent"])


async def cli(settings: Settings, *args: str):
    return await anju_beside(
        *args,
        env={
            "ANJU_DATABASE_URL": settings.database_url,
            "ANJU_VAR_DIR": settings.var_dir,
            "ANJU_SECRET_KEY": settings.secret_key,
        },
    )


async def test_the_commands_archive_list_and_restore(world, settings, history):
    before = await snapshot(settings, history)
    done = await cli(settings, "archive", "run", "--type", "access")
    assert done.returncode == 0, done.stderr
    assert f"access {OLD}: 3 rows archived" in done.stdout
    listed = (await cli(settings, "archive", "list")).stdout
    digest = Files(settings, RECORD_TYPES["access"], OLD).recorded()
    assert f"access           {OLD}          3 records  sha256 {digest}" in listed
    back = await cli(settings, "archive", "restore", "--type", "access", "--month", OLD)
    assert back.returncode == 0 and "3 rows restored" in back.stdout, back.stderr
    assert (await snapshot(settings, history))["access_record"] == before["access_record"]


async def test_retention_below_six_months_is_refused_at_start(world, settings, history):
    with pytest.raises(SettingsError, match="ANJU_RETENTION_ACCESS_DAYS: .*at least 183 days"):
        Settings(retention_access_days=90)
    done = await anju_beside(
        "archive", "run", env={"ANJU_RETENTION_ALARM_DAYS": "30", "ANJU_VAR_DIR": settings.var_dir}
    )
    assert done.returncode != 0 and "ANJU_RETENTION_ALARM_DAYS" in done.stderr and "183" in done.stderr
    assert not settings.archive_dir.exists()
    # A longer retention keeps the old month live.
    longer = msgspec.structs.replace(settings, retention_access_days=400)
    assert await run(longer, "access", say=lambda _: None) == []
    assert await AccessRecord.count().where(AccessRecord.id.is_in(history["old"])) == 3


async def test_a_run_that_dies_loses_nothing(world, settings, history):
    files = Files(settings, RECORD_TYPES["access"], OLD)
    before = await snapshot(settings, history)
    # It died while writing: the file cannot be written, nothing is deleted.
    files.temporary.mkdir(parents=True)
    with pytest.raises(OSError):
        await run(settings, only="access", say=lambda _: None)
    assert await snapshot(settings, history) == before and not files.data.exists()
    # It died after reading the file back, before its checksum was in place: nothing is deleted.
    files.temporary.rmdir()
    checksum_in_the_way = files.sums.with_name(files.sums.name + ".tmp")
    checksum_in_the_way.mkdir()
    with pytest.raises(OSError):
        await run(settings, only="access", say=lambda _: None)
    assert await snapshot(settings, history) == before and not files.data.exists()
    checksum_in_the_way.rmdir()
    # A leftover of a dead run is overwritten.
    files.temporary.write_bytes(b"half a file")
    await run(settings, only="access", say=lambda _: None)
    written = files.data.read_bytes()
    assert not files.temporary.exists() and len(lines(settings, "access", OLD)) == 3
    # It died after the file, before the delete: the rows are live and in the file. Nothing twice.
    await restore(settings, "access", OLD)
    release(settings, "access", OLD)
    [again] = await run(settings, only="access", say=lambda _: None)
    assert (again.records, again.removed) == (3, 3) and files.data.read_bytes() == written
    # A row of that month arriving late joins the file, in id order.
    await AccessRecord.update({AccessRecord.at: in_month(OLD, 28)}).where(
        AccessRecord.id == history["recent"]
    )
    [late] = await run(settings, only="access", say=lambda _: None)
    ids = [int(r["row"]["id"]) for r in lines(settings, "access", OLD)]
    assert (late.records, late.removed) == (4, 1) and ids == sorted([*history["old"], history["recent"]])


async def test_the_bridge_archives_on_its_schedule(world, settings, history):
    often = msgspec.structs.replace(settings, archive_every_hours=0.2 / 3600)
    files = Files(settings, RECORD_TYPES["alarm"], OLD)

    async def archived() -> bool:
        return files.sums.exists() and not await Alarm.exists().where(Alarm.id == history["alarm"])

    async with running(new_bridge(world, often)):
        await eventually(archived)
    assert [int(r["row"]["id"]) for r in lines(settings, "access", OLD)] == history["old"]
    assert await AccessRecord.count().where(AccessRecord.id.is_in([history["recent"], history["today"]])) == 2
