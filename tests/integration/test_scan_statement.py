"""The scan reads a flat in one statement: it must show exactly what the tables hold, in order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.db import is_postgres
from backend.doorplates.tables import Doorplate
from backend.registry.enums import PlaceKind, ResidencyStatus
from backend.registry.tables import House, Owner, Residency
from roles import Role


async def expected_household(house_id: int) -> tuple[list[dict], list[str]]:
    residents = (
        await Residency.select(
            Residency.id, Residency.person.name.as_alias("name"), Residency.person.birth_date.as_alias("born")
        )
        .where(
            (Residency.house == house_id)
            & Residency.status.is_in([ResidencyStatus.PENDING, ResidencyStatus.VERIFIED])
        )
        .order_by(Residency.id)
    )
    owners = (
        await Owner.select(Owner.person.name.as_alias("name"))
        .where(Owner.house == house_id)
        .order_by(Owner.id)
    )
    return (
        [
            {"residency_id": r["id"], "name": r["name"], "birth_date": r["born"].isoformat()}
            for r in residents
        ],
        [o["name"] for o in owners],
    )


async def test_every_flat_shows_its_listed_residents_and_owners_in_order(world):
    await Residency.update({Residency.status: ResidencyStatus.ENDED}).where(
        Residency.id == (await Residency.objects().where(Residency.house == world.home_house).first()).id
    )
    police = await world.headers(Role.POLICE)
    houses = await House.select(House.id).where(House.community == world.home).order_by(House.id)
    assert len(houses) > 1
    for house in houses:
        plate = await world.house_plate(house["id"])
        view = (await world.client.get(f"/api/scan/{plate}", headers=police)).json()
        residents, owners = await expected_household(house["id"])
        shown = [{k: r[k] for k in ("residency_id", "name", "birth_date")} for r in view["residents"]]
        assert shown == residents and [o["name"] for o in view["owners"]] == owners
        assert view["house"]["id"] == house["id"]


async def test_plates_without_a_flat_read_no_household_for_signed_in_callers(world):
    police = await world.headers(Role.POLICE)
    for kind in (PlaceKind.GATE, PlaceKind.BUILDING, PlaceKind.UNIT):
        view = (
            await world.client.get(f"/api/scan/{await world.plate(world.home, kind)}", headers=police)
        ).json()
        assert view["plate"]["kind"] == kind and "residents" not in view and "owners" not in view


async def test_a_revoked_plate_is_unknown_to_signed_in_callers_too(world):
    token = await world.house_plate(world.home_house)
    await Doorplate.update({Doorplate.revoked_at: datetime.now(UTC)}).where(Doorplate.token == token)
    response = await world.client.get(f"/api/scan/{token}", headers=await world.headers(Role.POLICE))
    assert response.status_code == 404 and response.json()["extra"]["code"] == "unknown_plate"


async def test_pooled_connections_carry_no_session_state_between_requests(world):
    """The pool hands connections back without asyncpg's reset round trip (backend.db.start_pool):
    nothing a request does may outlive it on the connection, such as a lock or an open transaction."""
    if not is_postgres(Doorplate._meta.db):
        pytest.skip("connection pooling is PostgreSQL's")
    police = await world.headers(Role.POLICE)
    plate = await world.house_plate(world.home_house)
    for _ in range(5):  # audited reads: the chain's advisory lock is taken and must be gone after
        assert (await world.client.get(f"/api/scan/{plate}", headers=police)).status_code == 200
    leftovers = await Doorplate.raw(
        "SELECT a.state, l.locktype FROM pg_stat_activity a LEFT JOIN pg_locks l "
        "ON l.pid = a.pid AND l.locktype = 'advisory' "
        "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
        "AND (a.state LIKE 'idle in transaction%' OR l.locktype IS NOT NULL)"
    )
    assert leftovers == []
