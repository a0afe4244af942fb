"""The guard desk in the PWA: a property guard registers a walk-in visitor by ID number and hands
over the pass, and decides on vehicles held at the barrier (the live server's seeded SQLite)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from roles import Role
from tests.browser.conftest import (
    add_virtual_authenticator,
    enrol_passkey,
    new_officer,
    policy_violations,
    sign_in,
    watch_policy,
)

VALID_ID = "11010519491231002X"  # GB 11643's example, check digit X


def _guard_account(live_server) -> int:
    with sqlite3.connect(live_server.database) as db:
        [account] = db.execute(
            "SELECT id FROM account WHERE phone = ?", (live_server.phone(Role.PROPERTY),)
        ).fetchone()
    return account


def _held_vehicle(live_server) -> tuple[int, str]:
    """A vehicle the ingest held at the home community's north gate (a simulated device that acks
    the guard's ``open``), inserted as the vehicles ingest records an unknown plate."""
    plate = f"鄂B{uuid.uuid4().int % 10**5:05d}"
    with sqlite3.connect(live_server.database) as db:
        [device] = db.execute(
            "SELECT id FROM device WHERE community = 1 AND kind = 'face_gate' ORDER BY id LIMIT 1"
        ).fetchone()
        passage = db.execute(
            "INSERT INTO vehicle_passage (community, device, plate, hpzl, color, plate_color, direction, at,"
            " picture, reason, outcome, watched, command, key)"
            " VALUES (1, ?, ?, '02', '', 'blue', 'in', ?, '', 'unknown', 'held', 0, '', ?) RETURNING id",
            (device, plate, datetime.now(UTC).isoformat(), f"test:{uuid.uuid4().hex}"),
        ).fetchone()[0]
    return passage, plate


def _passage(live_server, passage: int) -> tuple[str, int | None, int | None]:
    with sqlite3.connect(live_server.database) as db:
        return db.execute(
            "SELECT outcome, decided_by, opened FROM vehicle_passage WHERE id = ?", (passage,)
        ).fetchone()


def test_the_guard_registers_a_walk_in_and_sees_the_pass(page: Page, live_server):
    console = watch_policy(page)
    sign_in(page, live_server.phone(Role.PROPERTY))
    page.locator("a[href='/desk']").click()
    house = page.get_by_test_id("walkin-house")
    expect(house.locator("option")).not_to_have_count(1)  # the flats have loaded
    house.select_option(index=1)
    house_id = int(house.input_value())
    page.fill("#walkin-name", "钱 访客")
    page.fill("#walkin-id-number", "110105194912310021")  # wrong check digit: caught before sending
    page.get_by_test_id("register-walk-in").click()
    expect(page.get_by_test_id("error")).to_contain_text("校验位")

    page.fill("#walkin-id-number", VALID_ID.lower())  # a lower-case x is accepted
    page.fill("#walkin-plate", "鄂A 5S5S5")
    page.get_by_test_id("register-walk-in").click()
    issued = page.get_by_test_id("walk-in-pass")
    expect(issued).to_be_visible()
    # The seed's home community asks households to confirm walk-ins: the guard is told so.
    expect(issued.get_by_test_id("walk-in-status")).to_have_text("待确认")
    expect(issued).to_contain_text("待住户确认")
    expect(issued.get_by_test_id("share-link")).to_contain_text(f"{live_server.url}/v/")
    with sqlite3.connect(live_server.database) as db:
        kind, status, house_of, plate, issued_by = db.execute(
            "SELECT kind, status, house, plate, issued_by FROM visitor_pass WHERE visitor_name = '钱 访客'"
        ).fetchone()
    assert (kind, status, house_of, plate) == ("walk_in", "pending", house_id, "鄂A5S5S5")
    assert issued_by == _guard_account(live_server)
    assert policy_violations(page) == [] and console == []


def test_the_guard_lets_a_held_vehicle_in_and_learns_when_another_guard_decided(page: Page, live_server):
    passage, plate = _held_vehicle(live_server)
    raced, raced_plate = _held_vehicle(live_server)
    sign_in(page, live_server.phone(Role.PROPERTY), then="/desk")
    row = page.locator(f"[data-testid=held-vehicle][data-plate='{plate}']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("未登记车辆")
    row.get_by_test_id("vehicle-let-in").click()
    expect(page.get_by_role("status").filter(has_text=f"已放行 {plate}")).to_be_visible()
    expect(page.locator(f"[data-testid=held-vehicle][data-plate='{plate}']")).to_have_count(0)
    assert _passage(live_server, passage) == ("let_in", _guard_account(live_server), 1)

    # Another guard refuses the second vehicle while this screen still shows it.
    with sqlite3.connect(live_server.database) as db:
        db.execute("UPDATE vehicle_passage SET outcome = 'refused' WHERE id = ?", (raced,))
    page.locator(
        f"[data-testid=held-vehicle][data-plate='{raced_plate}'] [data-testid=vehicle-let-in]"
    ).click()
    expect(page.get_by_test_id("error")).to_have_text("另一位门岗已处理这辆车。")
    expect(page.locator(f"[data-testid=held-vehicle][data-plate='{raced_plate}']")).to_have_count(0)
    assert _passage(live_server, raced)[:2] == ("refused", None)


def test_police_watch_a_plate_and_remove_it_and_a_bad_plate_is_explained(page: Page, live_server):
    plate = f"鄂C{uuid.uuid4().int % 10**5:05d}"
    add_virtual_authenticator(page)
    sign_in(page, new_officer(live_server))
    enrol_passkey(page)  # police act only in a passkey session
    page.goto("/")
    page.locator("a[href='/watch-list']").click()
    page.fill("#watch-plate", "鄂I12345")  # no office letter I
    page.get_by_test_id("watch-add").click()
    expect(page.get_by_test_id("error")).to_be_visible()
    page.fill("#watch-plate", plate)
    page.fill("#watch-note", "盗抢嫌疑")
    page.get_by_test_id("watch-add").click()
    watched = page.locator(f"[data-testid=watched-plate][data-plate='{plate}']")
    expect(watched).to_contain_text("盗抢嫌疑")
    with sqlite3.connect(live_server.database) as db:
        [removed_at] = db.execute("SELECT removed_at FROM watched_plate WHERE plate = ?", (plate,)).fetchone()
    assert removed_at is None
    watched.get_by_test_id("watch-remove").click()
    expect(watched).to_have_count(0)
    with sqlite3.connect(live_server.database) as db:
        [removed_at] = db.execute("SELECT removed_at FROM watched_plate WHERE plate = ?", (plate,)).fetchone()
    assert removed_at is not None


def test_a_resident_has_no_desk_and_no_watch_list(page: Page, live_server):
    sign_in(page, live_server.phone(Role.RESIDENT))
    expect(page.locator("a[href='/desk'], a[href='/watch-list']")).to_have_count(0)
    page.goto("/desk")
    expect(page.get_by_test_id("error").first).to_be_visible()
