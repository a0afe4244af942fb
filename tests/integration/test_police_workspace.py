"""The police workspace: a flat's whole history and the community's key persons, audited."""

from __future__ import annotations

import msgspec

from backend.audit.tables import AuditEntry
from backend.registry.enums import ResidencyStatus
from backend.registry.tables import Person, Residency
from roles import Role
from tests.integration.test_registration import FORM


def people(entry: AuditEntry) -> list[int]:
    detail = entry.detail if isinstance(entry.detail, dict) else msgspec.json.decode(entry.detail)
    return detail["people"]


async def history(world, role, house=None, community="home"):
    return await world.client.get(
        f"/api/houses/{house or world.home_house}/residencies", headers=await world.headers(role, community)
    )


async def ended_residency(world) -> int:
    """A 流动 newcomer registered in the home flat by a warden, then deregistered."""
    warden = await world.headers(Role.WARDEN)
    token = await world.house_plate(world.home_house)
    registered = await world.client.post(f"/api/plates/{token}/registrations", json=FORM, headers=warden)
    residency = registered.json()["residency_id"]
    ended = await world.client.post(
        f"/api/residencies/{residency}/end", json={"reason": "已搬离"}, headers=warden
    )
    assert ended.status_code == 200, ended.text
    return residency


async def test_a_flats_history_keeps_its_ended_residencies(world):
    gone = await ended_residency(world)
    response = await history(world, Role.POLICE)
    assert response.status_code == 200, response.text
    records = {r["resident"]["residency_id"]: r for r in response.json()}
    assert records[gone]["resident"]["status"] == "ended" and records[gone]["end_date"]
    current = await Residency.count().where(
        (Residency.house == world.home_house) & (Residency.status != ResidencyStatus.ENDED)
    )
    assert len(records) == current + 1
    # The scan of the same flat lists only the current household.
    token = await world.house_plate(world.home_house)
    scan = await world.client.get(f"/api/scan/{token}", headers=await world.headers(Role.POLICE))
    assert gone not in {r["residency_id"] for r in scan.json()["residents"]}


async def test_a_wardens_history_is_projected_like_their_scan(world):
    response = await history(world, Role.WARDEN)
    assert response.status_code == 200
    for record in response.json():
        assert "key_person" not in record["resident"] and "*" in record["resident"]["id_number"]


async def test_history_reads_are_audited_with_the_people_shown(world):
    response = await history(world, Role.POLICE)
    entry = await AuditEntry.objects().where(AuditEntry.action == "read_household_history").first()
    assert entry.subject == f"house:{world.home_house}" and entry.actor_role == "police"
    assert sorted(people(entry)) == sorted(r["resident"]["person_id"] for r in response.json())


async def test_history_is_refused_to_residents_other_communities_and_anonymous_callers(world):
    assert (await history(world, Role.RESIDENT)).status_code == 403  # even of their own flat
    assert (await history(world, Role.POLICE, community="other")).status_code == 403
    assert (await history(world, None)).status_code == 401
    assert (await history(world, Role.POLICE, house=10**9)).status_code == 404


async def key_persons(world, role, community="home", of=None):
    return await world.client.get(
        f"/api/communities/{of or world.home}/key-persons", headers=await world.headers(role, community)
    )


async def test_police_list_the_communitys_key_persons_and_the_read_is_audited(world):
    response = await key_persons(world, Role.POLICE)
    assert response.status_code == 200
    listed = response.json()
    flagged = [p for p in await Person.select(Person.id, Person.key_sealed) if p["key_sealed"]]
    expected = {
        p["id"] for p in flagged if world.ctx.keys.unseal(p["key_sealed"]).find('"key_person":true') >= 0
    }
    shown = {p["resident"]["person_id"] for p in listed}
    assert shown and shown <= expected
    assert all(p["resident"]["key_person"] and len(p["resident"]["id_number"]) == 18 for p in listed)
    assert all(p["address"] for p in listed)
    entry = await AuditEntry.objects().where(AuditEntry.action == "read_key_persons").first()
    assert sorted(people(entry)) == sorted(shown)


async def test_key_persons_are_police_only_and_per_community(world):
    for role in (Role.WARDEN, Role.PROPERTY, Role.COMMUNITY_WORKER, Role.RESIDENT, Role.DISTRICT_ADMIN):
        assert (await key_persons(world, role)).status_code == 403, role
    assert (await key_persons(world, Role.POLICE, community="other")).status_code == 403
    assert (await key_persons(world, None)).status_code == 401
