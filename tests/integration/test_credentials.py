"""Credentials → people: registering cards, ID cards, PINs and tags, and passes that name their holder."""

from __future__ import annotations

import asyncio
import json
import secrets

import msgspec
import pytest

from backend.access.tables import AccessRecord
from backend.audit.tables import AuditEntry
from backend.credentials.tables import Credential
from backend.devices.tables import DeviceKind
from backend.registry.enums import ResidenceCategory, ResidencyStatus
from backend.registry.tables import Building, House, Person, Residency
from backend.seed import DEMO_CARDS
from device_bridge.bridge import running
from roles import Role
from tests.integration.test_bridge import Fleet, eventually, new_bridge

CARD = "3086451207"


@pytest.fixture
def fleet(world, settings) -> Fleet:
    return Fleet(world, settings)


async def resident_person(world) -> int:
    """The signed-in resident's own person (first occupant of the first flat)."""
    row = (
        await Residency.select(Residency.person)
        .where(Residency.house == world.home_house)
        .order_by(Residency.id)
        .first()
    )
    return row["person"]


async def lodger(world, community: int) -> dict:
    """A verified, not 常住 residency (deregistrable) in ``community``."""
    return (
        await Residency.select(Residency.id, Residency.person, Residency.house)
        .where(
            (Residency.community == community)
            & (Residency.status == ResidencyStatus.VERIFIED)
            & (Residency.person.residence_category != ResidenceCategory.PERMANENT)
        )
        .order_by(Residency.id)
        .first()
    )


async def register(world, role, house, body, community="home"):
    return await world.client.post(
        f"/api/houses/{house}/credentials", json=body, headers=await world.headers(role, community)
    )


async def card_for(world, person: int, house: int, card: str = CARD) -> dict:
    response = await register(
        world, Role.PROPERTY, house, {"person_id": person, "kind": "card", "value": card}
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def bridge(world, settings):
    async with running(new_bridge(world, settings)) as bridge:
        yield bridge


async def passes(fleet, *data: dict) -> list[AccessRecord]:
    """Publish access events as the home community's face gate; their records, once stored."""
    items = [(f"p-{secrets.token_hex(4)}", "access", {"direction": "in", "granted": True, **d}) for d in data]
    keys = [AccessRecord.key.like(f"ev:%:{event_id}") for event_id, _, _ in items]
    await fleet.publish(DeviceKind.FACE_GATE, items)
    await eventually(lambda: _all_stored(keys))
    return [await AccessRecord.objects().where(key).first() for key in keys]


async def _all_stored(keys) -> bool:
    return all([await AccessRecord.exists().where(key) for key in keys])


# --- the pass names its holder ------------------------------------------------------------


async def test_a_card_pass_over_mqtt_names_the_person_with_the_sealed_id(world, fleet, bridge):
    person = await resident_person(world)
    issued = await card_for(world, person, world.home_house)
    assert issued["shown"] != CARD and issued["shown"].endswith("07") and issued["pin"] is None
    stored = await Credential.objects().get(Credential.id == issued["id"])
    assert CARD not in stored.value_sealed and world.ctx.keys.unseal(stored.value_sealed) == CARD
    assert stored.active_hash == stored.value_hash != CARD

    [record] = await passes(fleet, {"method": "card", "credential": CARD})
    holder = await Person.objects().get(Person.id == person)
    house = await House.objects().get(House.id == world.home_house)
    building = await Building.objects().get(Building.id == house.building)
    assert (record.resolution, record.person, record.house) == ("person", person, world.home_house)
    assert record.name == holder.name and record.name
    assert record.id_number_sealed and "X" not in record.id_number_sealed[:0]
    assert world.ctx.keys.unseal(record.id_number_sealed) == world.ctx.keys.unseal(holder.id_number_encrypted)
    assert (record.sk_fsdm, record.credential, record.ld_bm) == ("01", CARD, building.number)


async def test_a_pin_pass_names_the_person_and_the_pin_is_kept_nowhere(world, fleet, bridge):
    person = await resident_person(world)
    response = await register(world, Role.RESIDENT, world.home_house, {"person_id": person, "kind": "pin"})
    assert response.status_code == 201, response.text
    pin = response.json()["pin"]
    assert len(pin) == 6 and pin.isdigit() and response.json()["shown"] == "******"
    stored = await Credential.objects().get(Credential.id == response.json()["id"])
    assert stored.value_sealed == "" and pin not in stored.value_hash

    [record] = await passes(fleet, {"method": "pin", "credential": pin})
    assert (record.resolution, record.person, record.sk_fsdm, record.credential) == (
        "person",
        person,
        "04",
        "",
    )
    listed = await world.client.get(
        f"/api/houses/{world.home_house}/credentials", headers=await world.headers(Role.RESIDENT)
    )
    [shown] = [item for item in listed.json() if item["kind"] == "pin"]
    assert shown["shown"] == "******" and pin not in msgspec.json.encode({**shown, "created_at": ""}).decode()


async def test_an_unknown_card_is_recorded_as_such_and_attributed_to_nobody(world, fleet, bridge):
    await card_for(world, await resident_person(world), world.home_house)
    unknown, face = await passes(fleet, {"method": "card", "credential": "0000000001"}, {"method": "face"})
    assert (unknown.resolution, unknown.person, unknown.name, unknown.id_number_sealed) == (
        "unknown",
        None,
        "",
        "",
    )
    assert (face.resolution, face.person, face.sk_fsdm) == ("", None, "03")


async def test_a_card_ends_with_its_holders_residency(world, fleet, bridge):
    residency = await lodger(world, world.home)
    await card_for(world, residency["person"], residency["house"], "77001234")
    [before] = await passes(fleet, {"method": "card", "credential": "77001234"})
    assert before.person == residency["person"]
    ended = await world.client.post(
        f"/api/residencies/{residency['id']}/end",
        json={"reason": "搬离"},
        headers=await world.headers(Role.WARDEN),
    )
    assert ended.status_code == 200, ended.text
    [after] = await passes(fleet, {"method": "card", "credential": "77001234"})
    assert (after.resolution, after.person, after.name) == ("unknown", None, "")


async def test_a_revoked_card_resolves_to_nobody_and_its_number_is_free_again(world, fleet, bridge):
    person = await resident_person(world)
    issued = await card_for(world, person, world.home_house)
    again = await register(
        world, Role.PROPERTY, world.home_house, {"person_id": person, "kind": "card", "value": CARD}
    )
    assert again.status_code == 409 and again.json()["extra"]["code"] == "credential_in_use"
    revoked = await world.client.post(
        f"/api/credentials/{issued['id']}/revoke", headers=await world.headers(Role.PROPERTY)
    )
    assert revoked.status_code == 204, revoked.text
    [record] = await passes(fleet, {"method": "card", "credential": CARD})
    assert record.resolution == "unknown" and record.person is None
    await card_for(world, person, world.home_house)  # the card, found again, is registered anew


async def test_an_id_card_is_the_holders_own_and_registered_by_police(world, fleet, bridge):
    person = await resident_person(world)
    holder = await Person.objects().get(Person.id == person)
    number = world.ctx.keys.unseal(holder.id_number_encrypted)
    response = await register(world, Role.POLICE, world.home_house, {"person_id": person, "kind": "id_card"})
    assert response.status_code == 201, response.text
    assert number not in response.text
    [record] = await passes(fleet, {"method": "id_card", "credential": number})
    assert (record.person, record.sk_fsdm, record.credential) == (
        person,
        "02",
        number[:3] + "*" * 11 + number[-4:],
    )


async def test_staff_reads_of_credentials_are_audited_with_the_people_shown(world):
    person = await resident_person(world)
    await card_for(world, person, world.home_house)
    listed = await world.client.get(
        f"/api/houses/{world.home_house}/credentials", headers=await world.headers(Role.PROPERTY)
    )
    assert listed.status_code == 200 and CARD not in listed.text
    entry = await AuditEntry.objects().where(AuditEntry.action == "read_credentials").first()
    assert entry is not None and person in json.loads(entry.detail)["people"]


# --- attackers --------------------------------------------------------------------------


async def test_a_resident_cannot_register_a_card_or_an_id_card(world):
    person = await resident_person(world)
    for body in (
        {"person_id": person, "kind": "card", "value": CARD},
        {"person_id": person, "kind": "id_card"},
    ):
        response = await register(world, Role.RESIDENT, world.home_house, body)
        assert response.status_code == 403 and response.json()["extra"]["code"] == "staff_only"
    assert await Credential.count() == len(DEMO_CARDS)


async def test_a_resident_blocks_a_lost_card_of_their_household_at_once(world):
    issued = await card_for(world, await resident_person(world), world.home_house)
    revoked = await world.client.post(
        f"/api/credentials/{issued['id']}/revoke", headers=await world.headers(Role.RESIDENT)
    )
    assert revoked.status_code == 204
    assert (await Credential.objects().get(Credential.id == issued["id"])).active_hash is None


async def test_a_resident_manages_only_their_own_household(world):
    other = await lodger(world, world.home)
    assert other["house"] != world.home_house
    tag = await register(
        world, Role.RESIDENT, other["house"], {"person_id": other["person"], "kind": "tag", "value": "EB001"}
    )
    listed = await world.client.get(
        f"/api/houses/{other['house']}/credentials", headers=await world.headers(Role.RESIDENT)
    )
    assert tag.status_code == listed.status_code == 403
    # Someone else's person named under one's own household is no member of it.
    mine = await register(
        world,
        Role.RESIDENT,
        world.home_house,
        {"person_id": other["person"], "kind": "tag", "value": "EB001"},
    )
    assert mine.status_code == 422 and mine.json()["extra"]["code"] == "not_a_member"
    issued = await card_for(world, other["person"], other["house"])
    revoke = await world.client.post(
        f"/api/credentials/{issued['id']}/revoke", headers=await world.headers(Role.RESIDENT)
    )
    assert revoke.status_code == 403
    assert await Credential.count() == len(DEMO_CARDS) + 1


@pytest.mark.parametrize(
    ("role", "community", "status"),
    [
        (None, "home", 401),
        (Role.WARDEN, "home", 403),  # wardens see households but issue no cards
        (Role.MAINTENANCE, "home", 403),
        (Role.PROPERTY, "other", 403),
        (Role.POLICE, "other", 403),
    ],
)
async def test_wrong_roles_and_other_communities_register_nothing(world, role, community, status):
    body = {"person_id": await resident_person(world), "kind": "card", "value": CARD}
    response = await register(world, role, world.home_house, body, community)
    assert response.status_code == status and response.json()["detail"]
    assert await Credential.count() == len(DEMO_CARDS)


async def test_a_stranger_who_knows_a_card_or_id_number_gains_nothing(world, fleet, bridge):
    """The holder's card number or ID number, typed in elsewhere, attaches to no one else."""
    holder = await resident_person(world)
    await card_for(world, holder, world.home_house)
    number = world.ctx.keys.unseal((await Person.objects().get(Person.id == holder)).id_number_encrypted)
    stranger = await lodger(world, world.home)
    # As a card of the stranger's household: refused, the number is taken.
    taken = await register(
        world,
        Role.PROPERTY,
        stranger["house"],
        {"person_id": stranger["person"], "kind": "card", "value": CARD},
    )
    assert taken.status_code == 409
    # An ID number is never given: an ID card is its holder's own number from the registry.
    typed = await register(
        world,
        Role.POLICE,
        stranger["house"],
        {"person_id": stranger["person"], "kind": "id_card", "value": number},
    )
    assert typed.status_code == 422 and typed.json()["extra"]["code"] == "value_not_accepted"
    # Read at a door without an ID card registered for it, the holder's ID number names no one.
    [record] = await passes(fleet, {"method": "id_card", "credential": number})
    assert (record.resolution, record.person) == ("unknown", None)


async def test_one_card_number_may_be_held_once_per_community(world):
    here = await card_for(world, await resident_person(world), world.home_house)
    there = await lodger(world, world.other)
    response = await register(
        world,
        Role.PROPERTY,
        there["house"],
        {"person_id": there["person"], "kind": "card", "value": CARD},
        "other",
    )
    assert response.status_code == 201 and here["id"] != response.json()["id"]


async def test_one_card_registered_for_two_households_at_once_gives_one_201_and_one_409(world):
    neighbour = (
        await Residency.select(Residency.person, Residency.house)
        .where(
            (Residency.community == world.home)
            & (Residency.status == ResidencyStatus.VERIFIED)
            & (Residency.house != world.home_house)
        )
        .first()
    )
    card = {"kind": "card", "value": "3086459999"}
    await world.headers(Role.PROPERTY)  # signed in once, before the race
    answers = await asyncio.gather(
        register(world, Role.PROPERTY, world.home_house, {"person_id": await resident_person(world), **card}),
        register(world, Role.PROPERTY, neighbour["house"], {"person_id": neighbour["person"], **card}),
    )
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    [lost] = [a for a in answers if a.status_code == 409]
    assert lost.json()["extra"]["code"] == "credential_in_use"
    assert await Credential.count() == len(DEMO_CARDS) + 1


@pytest.mark.parametrize("value", ["", "12", "ABC-123", "卡号12345", "1" * 21])
async def test_malformed_card_numbers_are_refused(world, value):
    response = await register(
        world,
        Role.PROPERTY,
        world.home_house,
        {"person_id": await resident_person(world), "kind": "card", "value": value},
    )
    assert response.status_code in (400, 422) and response.json()["detail"]
