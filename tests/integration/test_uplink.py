"""The uplink to the police platform: records from real flows reach a local target exactly once,
through an outage (connections refused, then 503), signed; rows failing the standard never leave.

The target (tests/uplink_receiver.py) checks every request's signature and counts each record
key it received in a 2xx answer: a key counted twice would be a record sent again after its 2xx
was recorded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from urllib.parse import urlsplit, urlunsplit

import msgspec
import pytest

from backend.access.tables import AccessRecord
from backend.alarms.kinds import AlarmType
from backend.alarms.raising import Signal, Source, take
from backend.alarms.tables import Alarm
from backend.devices.tables import Device
from backend.metrics import DatabaseFigures
from backend.registry.tables import Community, Person
from backend.seed import DEMO_CARDS
from backend.uplink import standard
from backend.uplink.outbox import enqueue
from backend.uplink.tables import UplinkRecord
from device_bridge import store
from device_bridge.bridge import running
from roles import Role
from tests.faults import database_outage
from tests.integration.test_bridge import Fleet, new_bridge
from tests.integration.test_credentials import passes
from tests.integration.test_metrics import value
from tests.uplink_receiver import SLOW, Receiver

SECRET = "uplink-test-secret-" + "s" * 24
TOKEN = secrets.token_urlsafe(32)
WAIT = 60.0  # seconds a condition may take before the test fails (never a measured figure)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@pytest.fixture
async def receiver():
    target = Receiver(SECRET)
    yield target
    await target.down()


@pytest.fixture
def settings(settings, receiver, request):
    """The app sends to the local target, retrying fast (an outage of seconds stands for hours)."""
    changes = {
        "uplink_url": receiver.url,
        "uplink_secret": SECRET,
        "uplink_timeout_seconds": 5.0,
        "uplink_retry_seconds": 0.05,
        "uplink_retry_max_seconds": 0.4,
        "live_poll_seconds": 0.2,
        "metrics_token": TOKEN,
    }
    return msgspec.structs.replace(settings, **{**changes, **getattr(request, "param", {})})


async def until(condition, what: str) -> None:
    async with asyncio.timeout(WAIT):
        while not await condition():
            await asyncio.sleep(0.05)


async def button_alarm(world, suffix: str, key: str, note: str = "已到场处置") -> int:
    """A button press through the bridge's path, then closed by the warden through the API."""
    code = (await Community.objects().get(Community.id == world.home)).code
    device = await Device.objects().get(Device.code == f"{code}-{suffix}")
    source = Source(device.id, device.community, device.name, device.kind, device.latitude, device.longitude)
    signal = Signal(key=key, device=source, type=AlarmType.EMERGENCY, at=dt.datetime.now(dt.UTC), active=True)
    async with store.writer(Alarm._meta.db) as writer:
        alarm = await take(writer, signal, 300.0)
    await close_alarm(world, alarm.id, note)
    return alarm.id


async def close_alarm(world, alarm_id: int, note: str) -> None:
    """Acknowledged, then resolved with ``note``, by the warden through the API."""
    for state, text in (("acknowledged", "已联系住户"), ("resolved", note)):
        response = await world.client.post(
            f"/api/alarms/{alarm_id}/steps",
            json={"state": state, "note": text},
            headers=await world.headers(Role.WARDEN),
        )
        assert response.status_code == 201, response.text


async def rows(state: str | None = None) -> list[dict]:
    query = UplinkRecord.select()
    if state is not None:
        query = query.where(UplinkRecord.state == state)
    return await query


async def status(world) -> dict:
    response = await world.client.get(
        f"/api/communities/{world.home}/uplink", headers=await world.headers(Role.POLICE)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_outage_loses_nothing_and_every_record_arrives_exactly_once(world, receiver):
    # Down: nothing listens, connections are refused. Records are produced meanwhile.
    produced = [await button_alarm(world, "sos-1", f"down-{n}") for n in range(3)]
    await until(lambda: _all_tried(3), "every row tried while the target is down")
    # Up, but failing: 503 to everything, and more records meanwhile.
    receiver.failing = True
    await receiver.up()
    produced += [await button_alarm(world, "sos-1", f"503-{n}") for n in range(3)]
    await until(lambda: _refused(receiver), "the target refused a batch")
    during = await status(world)
    assert during["pending"] == 6 and during["sent"] == 0 and during["lag_seconds"] > 0
    assert during["last_failure_at"] and during["last_failure"]
    [table] = during["tables"]
    assert (table["table"], table["pending"]) == ("emergency_alarm", 6)
    assert not receiver.applied
    # The target comes back: everything drains, each record once.
    receiver.failing = False
    await until(lambda: _none_pending(), "the outbox drained")
    expected = {f"emergency_alarm/alarm:{alarm_id}" for alarm_id in produced}
    assert set(receiver.applied) == expected
    assert receiver.repeats() == {}, "a record was sent again after its 2xx was recorded"
    assert receiver.bad_signatures == 0
    after = await status(world)
    assert (after["pending"], after["sent"], after["rejected"], after["lag_seconds"]) == (0, 6, 0, 0)
    assert after["last_sent_at"]
    # What arrived is the standard's row, field-exact.
    alarm = await Alarm.objects().get(Alarm.id == produced[0])
    row = receiver.applied[f"emergency_alarm/alarm:{alarm.id}"]
    assert row["table"] == "emergency_alarm"
    sent = row["row"]
    assert set(sent) == {field.name for field in standard.tables()["emergency_alarm"].fields}
    assert sent["BJQZ_DD"] == alarm.location and sent["CLJG_MC"] == "已到场处置" and sent["BJ_ZT"] == "已处置"
    assert DATE.match(sent["BJQZ_RQJSJ"]) and DATE.match(sent["CLSJ"])
    assert isinstance(sent["DQJD"], float) and sent["BJLX"] == "紧急报警" and sent["CLR_XM"]
    # The Shanghai wall clock of the close.
    closed = alarm.closed_at.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
    assert sent["CLSJ"] == closed


async def _all_tried(count: int) -> bool:
    found = await rows("pending")
    return len(found) == count and all(r["attempts"] >= 1 and r["last_error"] for r in found)


async def _refused(receiver: Receiver) -> bool:
    return receiver.refused > 0


async def _none_pending() -> bool:
    return not await rows("pending")


async def test_a_row_failing_the_standard_is_rejected_with_its_problems_and_never_sent(world, receiver):
    await receiver.up()
    # sos-2 is paired with nobody: the alarm has no 报警求助人 and no 联系方式.
    unpaired = await button_alarm(world, "sos-2", "lonely-1")
    paired = await button_alarm(world, "sos-1", "paired-1")
    await until(lambda: _none_pending(), "the outbox drained")
    assert set(receiver.applied) == {f"emergency_alarm/alarm:{paired}"}
    assert f"emergency_alarm/alarm:{unpaired}" not in receiver.deliveries
    [rejected] = await rows("rejected")
    assert rejected["record_key"] == f"alarm:{unpaired}" and rejected["attempts"] == 0
    shown = await status(world)
    assert (shown["sent"], shown["rejected"]) == (1, 1)
    [entry] = shown["recent_rejected"]
    assert entry["record"] == f"alarm:{unpaired}" and entry["table"] == "emergency_alarm"
    assert {(p["field"], p["reason"]) for p in entry["problems"]} == {
        ("BJQZR_XM", "missing"),
        ("LXFS", "missing"),
    }
    # Enqueueing the same record again changes nothing (one row per table and record).
    async with store.writer(UplinkRecord._meta.db) as writer:
        again = await enqueue(
            writer, world.ctx.keys, "emergency_alarm", f"alarm:{paired}", world.home, {"ID": "x"}
        )
    assert again is None and await UplinkRecord.count() == 2


async def test_a_record_the_target_refuses_is_rejected_with_its_reason_and_not_retried(world, receiver):
    receiver.reject = lambda key, row: "BJQZ_DD 不在辖区" if row.get("CLJG_MC") == "拒收" else ""
    await receiver.up()
    refused = await button_alarm(world, "sos-1", "refuse-1", note="拒收")
    accepted = await button_alarm(world, "sos-1", "accept-1")
    await until(lambda: _none_pending(), "the outbox drained")
    assert set(receiver.applied) == {f"emergency_alarm/alarm:{accepted}"}
    assert receiver.deliveries[f"emergency_alarm/alarm:{refused}"] == 1  # refused once, never again
    [entry] = (await status(world))["recent_rejected"]
    assert (entry["record"], entry["reason"], entry["problems"]) == (
        f"alarm:{refused}",
        "BJQZ_DD 不在辖区",
        [],
    )


@pytest.mark.parametrize("settings", [{"uplink_secret": "a-wrong-secret-" + "w" * 24}], indirect=True)
async def test_a_wrong_secret_is_caught_by_the_target_and_the_records_wait(world, receiver):
    await receiver.up()
    alarm_id = await button_alarm(world, "sos-1", "wrong-1")
    await until(lambda: _bad_signature(receiver), "the target saw a bad signature")
    assert not receiver.applied and not receiver.deliveries
    [row] = await rows()
    assert (row["state"], row["record_key"], row["last_error"]) == (
        "pending",
        f"alarm:{alarm_id}",
        "HTTP 401",
    )


async def _bad_signature(receiver: Receiver) -> bool:
    return (
        receiver.bad_signatures > 0
        and bool(await rows("pending"))
        and (await rows("pending"))[0]["last_error"] != ""
    )


async def test_metrics_show_the_outbox_lag_and_the_outcomes_by_table_never_a_record(world, receiver):
    async def scrape() -> str:
        response = await world.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        return response.text

    before = await scrape()
    await button_alarm(world, "sos-1", "metrics-1")
    await button_alarm(world, "sos-2", "metrics-2")  # unpaired: rejected by the standard
    await until(lambda: _all_tried(1), "the row tried while the target is down")
    during = await scrape()  # the counters; the database figures as a fresh read gives them:
    figures = await _figures()
    assert figures[("anju_uplink_outbox_records", "pending")] == 1
    assert figures[("anju_uplink_outbox_records", "rejected")] == 1
    assert figures[("anju_uplink_lag_seconds", "")] > 0
    failed = value(during, "anju_uplink_records_total", table="emergency_alarm", result="failed")
    assert failed > value(before, "anju_uplink_records_total", table="emergency_alarm", result="failed")
    await receiver.up()
    await until(lambda: _none_pending(), "the outbox drained")
    after = await scrape()
    sent = value(after, "anju_uplink_records_total", table="emergency_alarm", result="sent")
    assert sent - value(before, "anju_uplink_records_total", table="emergency_alarm", result="sent") == 1
    assert (await _figures())[("anju_uplink_lag_seconds", "")] == 0
    labels = {
        label
        for line in after.splitlines()
        if line.startswith("anju_uplink")
        for label in re.findall(r'(\w+)="', line)
    }
    assert labels <= {"table", "state", "result"}


async def _figures() -> dict[tuple[str, str], float]:
    """The uplink's database figures as a scrape outside the caching window reads them."""
    return {
        (sample.name, sample.labels.get("state", "")): sample.value
        for family in await DatabaseFigures(seconds=0).families()
        for sample in family.samples
        if sample.name.startswith("anju_uplink") and sample.labels["table"] == "emergency_alarm"
    }


@pytest.mark.parametrize("settings", [{"uplink_timeout_seconds": 0.5}], indirect=True)
async def test_an_answer_lost_after_the_target_applied_the_batch_is_resent_and_applied_once(world, receiver):
    """At least once + idempotency keys = once: the target applies a batch but its answer never
    arrives in time; the sender sends the same keys again and the target drops the repeat."""
    receiver.slow_answers = 1  # the first request is applied, then answered after the sender gave up
    await receiver.up()
    alarm_id = await button_alarm(world, "sos-1", "lost-1")
    await until(lambda: _none_pending(), "the outbox drained")
    key = f"emergency_alarm/alarm:{alarm_id}"
    assert receiver.deliveries[key] == 2  # sent again, with the same key…
    assert list(receiver.applied) == [key]  # …and applied once
    [row] = await rows("sent")
    assert row["attempts"] == 2


@pytest.mark.parametrize(
    "settings", [{"uplink_retry_seconds": 600.0, "uplink_retry_max_seconds": 3600.0}], indirect=True
)
async def test_the_first_answer_after_an_outage_drains_the_backlog_at_once(world, receiver):
    """Rows that failed wait minutes for their next retry; the first record the target accepts
    again (a new one) makes them all due, rather than each waiting out its own backoff."""
    waiting = [await button_alarm(world, "sos-1", f"backlog-{n}") for n in range(3)]
    await until(lambda: _all_tried(3), "every row tried while the target is down")
    assert all(r["due_at"] > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4) for r in await rows("pending"))
    await receiver.up()
    fresh = await button_alarm(world, "sos-1", "backlog-new")
    await until(lambda: _none_pending(), "the outbox drained")
    assert set(receiver.applied) == {f"emergency_alarm/alarm:{i}" for i in [*waiting, fresh]}
    assert receiver.repeats() == {}


async def test_door_passes_through_the_bridge_are_sent_and_those_lacking_required_fields_rejected(
    world, settings, receiver
):
    """门禁刷卡信息: a resident's card pass at the gate fills the table; a face pass carries no card
    number (JMK_BH) and names nobody, so it is rejected with those reasons and never sent."""
    await receiver.up()
    async with running(new_bridge(world, settings)):
        card, face = await passes(
            Fleet(world, settings), {"method": "card", "credential": DEMO_CARDS[0]}, {"method": "face"}
        )
    await until(lambda: _none_pending(), "the outbox drained")
    assert set(receiver.applied) == {f"door_access/{card.key}"}
    sent = receiver.applied[f"door_access/{card.key}"]["row"]
    holder = await Person.objects().get(Person.id == card.person)
    assert sent["JMK_BH"] == DEMO_CARDS[0] and sent["SK_FSDM"] == "01" and sent["KMFS_MC"] == "刷卡"
    assert sent["XM"] == holder.name and sent["GMSFHM"] == world.ctx.keys.unseal(holder.id_number_encrypted)
    assert sent["DYH"] and sent["LD_BM"] and sent["XQ_BS"] and DATE.match(sent["SK_RQSJ"])
    assert not standard.check("door_access", {**sent, "SK_RQSJ": card.at, "CJ_RQSJ": card.at})
    [rejected] = await rows("rejected")
    assert rejected["record_key"] == face.key and f"door_access/{face.key}" not in receiver.deliveries
    problems = {(p["field"], p["reason"]) for p in _decoded(rejected["problems"])}
    assert {("JMK_BH", "missing"), ("GMSFHM", "missing"), ("XM", "missing")} <= problems


def _decoded(value) -> list[dict]:
    return msgspec.json.decode(value) if isinstance(value, str) else value


async def test_a_pass_owed_keeps_no_copy_of_its_data_and_a_sent_row_keeps_none(world, settings, receiver):
    """The outbox owes a pass by reference (no name, no ID number, not even sealed), and once the
    platform has the row, the outbox keeps its key and times, not its data."""
    async with running(new_bridge(world, settings)):
        [card] = await passes(Fleet(world, settings), {"method": "card", "credential": DEMO_CARDS[0]})
    holder = await Person.objects().get(Person.id == card.person)
    id_number = world.ctx.keys.unseal(holder.id_number_encrypted)
    [owed] = await UplinkRecord.raw("SELECT payload FROM uplink_record WHERE state = 'pending'")
    assert _decoded(owed["payload"]) == {}  # owed by reference: built from the record when sent
    await receiver.up()
    await until(lambda: _none_pending(), "the outbox drained")
    assert receiver.applied[f"door_access/{card.key}"]["row"]["GMSFHM"] == id_number
    [sent] = await rows("sent")
    assert _decoded(sent["payload"]) == {}


@pytest.mark.parametrize("settings", [{"uplink_timeout_seconds": 10.0}], indirect=True)
async def test_a_database_outage_while_records_are_sent_loses_none_and_repeats_none(
    world, settings, receiver
):
    """The target applies a batch and answers while the database is away (every connection of the
    test's database terminated, new ones too, every 50 ms): whether the outcome is recorded between
    two terminations or once the database is back, every record arrives once and ends sent."""
    if not settings.database_url.startswith("postgres"):
        pytest.skip("a database outage is a PostgreSQL matter")
    receiver.failing = True
    await receiver.up()
    produced = [await button_alarm(world, "sos-1", f"outage-{n}") for n in range(6)]
    await until(lambda: _refused(receiver), "the target refused a batch")
    receiver.slow_answers = 1  # the next batch is applied at once, answered SLOW seconds later
    receiver.failing = False
    await until(lambda: asyncio.sleep(0, bool(receiver.applied)), "a batch applied, its answer pending")
    server = urlunsplit(urlsplit(settings.database_url)._replace(path="/postgres"))
    async with database_outage(server, urlsplit(settings.database_url).path.lstrip("/")):
        await asyncio.sleep(SLOW + 1)  # the answer arrives while the database is away
    await until(lambda: _none_pending(), "the outbox drained")
    assert set(receiver.applied) == {f"emergency_alarm/alarm:{alarm_id}" for alarm_id in produced}
    assert receiver.repeats() == {}, "a record was sent again after the target had applied it"
    assert {row["state"] for row in await rows()} == {"sent"}


async def test_a_pass_whose_record_is_gone_before_it_is_sent_is_rejected_not_sent(world, settings, receiver):
    """Owed by reference, a row is built when sent: a record no longer stored (purged by the
    retention's archive, say) leaves nothing to send, and says so."""
    async with running(new_bridge(world, settings)):
        [card] = await passes(Fleet(world, settings), {"method": "card", "credential": DEMO_CARDS[0]})
    await AccessRecord.delete().where(AccessRecord.id == card.id)
    await receiver.up()
    await until(lambda: _none_pending(), "the outbox drained")
    assert not receiver.deliveries
    [rejected] = await rows("rejected")
    assert rejected["record_key"] == card.key
    assert [(p["field"], p["reason"]) for p in _decoded(rejected["problems"])] == [("", "record_gone")]
