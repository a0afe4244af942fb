"""Issue #13, findings 1, 2, 3, 7, 14: identity attacks, tried as an attacker would."""

from __future__ import annotations

import msgspec

from backend.access.tables import Door
from backend.audit.tables import AuditEntry
from backend.registry.tables import Person, Residency
from roles import Role
from tests.integration.test_registration import FORM, flagged_key_person, register

ATTACKER_PHONE = "13755550000"


async def victim_id_number(world) -> str:
    """The ID number of the seeded resident who lives in the first flat (the attacker knows it)."""
    residency = (
        await Residency.objects().where(Residency.house == world.home_house).order_by(Residency.id).first()
    )
    person = await Person.objects().get(Person.id == residency.person)
    return world.ctx.keys.unseal(person.id_number_encrypted)


async def attacker(world) -> dict[str, str]:
    tokens = await world.sign_in(ATTACKER_PHONE)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def what_the_attacker_reaches(world, headers) -> tuple[str, list, int]:
    token = await world.house_plate(world.home_house)
    view = (await world.client.get(f"/api/scan/{token}", headers=headers)).json()
    doors = (await world.client.get("/api/doors", headers=headers)).json()
    unit_door = (
        await Door.select(Door.id).where((Door.community == world.home) & (Door.kind == "unit")).first()
    )
    opened = await world.client.post(f"/api/doors/{unit_door['id']}/open", headers=headers)
    return view["viewer"], doors, opened.status_code


async def test_an_id_number_is_no_key_to_someone_elses_home(world):
    headers = await attacker(world)
    stolen = {**FORM, "id_number": await victim_id_number(world), "phone": ATTACKER_PHONE}
    token = await world.house_plate(world.home_house + 1)  # any flat: not the victim's
    created = await world.client.post(f"/api/plates/{token}/registrations", json=stolen, headers=headers)
    assert created.status_code == 201 and created.json()["status"] == "pending"
    assert await what_the_attacker_reaches(world, headers) == ("anonymous", [], 403)
    rejected = await world.client.post(
        f"/api/residencies/{created.json()['residency_id']}/reject",
        json={"reason": "冒用身份"},
        headers=await world.headers(Role.WARDEN),
    )
    assert rejected.json()["status"] == "rejected"
    assert await what_the_attacker_reaches(world, headers) == ("anonymous", [], 403)


async def test_a_duplicate_id_at_the_address_answers_like_a_fresh_one(world):
    first = await register(world)
    second = await register(world)
    assert (first.status_code, set(first.json()), first.json()["status"]) == (
        second.status_code,
        set(second.json()),
        second.json()["status"],
    )
    queue = await world.client.get("/api/verification-queue", headers=await world.headers(Role.WARDEN))
    items = {i["residency_id"]: i for i in queue.json()}
    assert items[second.json()["residency_id"]]["already_registered_here"] is True


async def test_the_verifier_sees_the_same_person_and_merges(world):
    victim = await victim_id_number(world)
    created = await register(world, {**FORM, "id_number": victim}, house=world.home_house + 1)
    queue = await world.client.get("/api/verification-queue", headers=await world.headers(Role.WARDEN))
    item = next(i for i in queue.json() if i["residency_id"] == created.json()["residency_id"])
    match = item["same_person_as"]
    assert match["person_id"] != item["person"]["person_id"] and "*" in match["id_number"]
    headers = await world.headers(Role.WARDEN)
    url = f"/api/residencies/{item['residency_id']}/verify"
    assert (await world.client.post(url, headers=headers)).status_code == 409  # merge or reject
    merged = await world.client.post(url, json={"merge_into": match["person_id"]}, headers=headers)
    assert merged.json()["status"] == "verified"
    assert (await Residency.objects().get(Residency.id == item["residency_id"])).person == match["person_id"]
    assert not await Person.exists().where(Person.id == item["person"]["person_id"])


async def test_a_self_declared_permanent_category_is_only_a_proposal(world):
    created = await register(world, {**FORM, "residence_category": "permanent"})
    residency_id = created.json()["residency_id"]
    token = await world.house_plate(world.home_house)
    police = await world.headers(Role.POLICE)
    view = (await world.client.get(f"/api/scan/{token}", headers=police)).json()
    pending = next(r for r in view["residents"] if r["residency_id"] == residency_id)
    assert "residence_category" not in pending
    queue = (await world.client.get("/api/verification-queue", headers=police)).json()
    assert next(i for i in queue if i["residency_id"] == residency_id)["proposed_category"] == "permanent"
    verified = await world.client.post(
        f"/api/residencies/{residency_id}/verify", json={"residence_category": "floating"}, headers=police
    )
    assert verified.json()["status"] == "verified"
    view = (await world.client.get(f"/api/scan/{token}", headers=police)).json()
    assert (
        next(r for r in view["residents"] if r["residency_id"] == residency_id)["residence_category"]
        == "floating"
    )
    ended = await world.client.post(
        f"/api/residencies/{residency_id}/end", json={"reason": "搬离"}, headers=police
    )
    assert ended.json()["status"] == "ended"


async def test_police_correct_a_verified_residency_with_a_reason_and_wardens_cannot(world):
    headers = await attacker(world)
    body = {**FORM, "phone": ATTACKER_PHONE, "residence_category": "permanent"}
    token = await world.house_plate(world.home_house + 1)
    residency_id = (
        await world.client.post(f"/api/plates/{token}/registrations", json=body, headers=headers)
    ).json()["residency_id"]
    police = await world.headers(Role.POLICE)
    await world.client.post(f"/api/residencies/{residency_id}/verify", headers=police)
    assert (await world.client.get(f"/api/scan/{token}", headers=headers)).json()["viewer"] == "resident"
    correction = {"residence_category": "floating", "wrong_person": True, "reason": "冒用他人身份，误核实"}
    url = f"/api/residencies/{residency_id}/correct"
    assert (
        await world.client.post(url, json=correction, headers=await world.headers(Role.WARDEN))
    ).status_code == 403
    assert (
        await world.client.post(url, json={**correction, "reason": ""}, headers=police)
    ).status_code == 422
    corrected = await world.client.post(url, json=correction, headers=police)
    assert corrected.status_code == 200 and corrected.json()["status"] == "verified"
    assert (await world.client.get(f"/api/scan/{token}", headers=headers)).json()["viewer"] == "anonymous"
    history = (await world.client.get(f"/api/residencies/{residency_id}/history", headers=police)).json()
    last = history[-1]
    assert last["action"] == "correct" and last["reason"] == correction["reason"]
    assert last["changes"] == {"residence_category": ["permanent", "floating"], "account_unlinked": True}
    entry = await AuditEntry.objects().where(AuditEntry.action == "correct_residency").first()
    assert entry.subject == f"residency:{residency_id}"


async def test_masked_viewers_get_an_age_band_not_a_birth_date(world):
    token = await world.house_plate(world.home_house)
    for role in (Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER):
        view = (await world.client.get(f"/api/scan/{token}", headers=await world.headers(role))).json()
        assert view["residents"] and all("birth_date" not in r for r in view["residents"]), role
        assert all(r["age_band"].endswith("9") or r["age_band"].endswith("+") for r in view["residents"])
    police = (await world.client.get(f"/api/scan/{token}", headers=await world.headers(Role.POLICE))).json()
    assert all("birth_date" in r for r in police["residents"])


async def test_resident_reads_of_their_household_are_audited(world):
    token = await world.house_plate(world.home_house)
    await world.client.get(f"/api/scan/{token}", headers=await world.headers(Role.RESIDENT))
    entry = await AuditEntry.objects().where(AuditEntry.action == "read_household").first()
    assert (
        entry is not None and entry.actor_role == "resident" and entry.subject == f"house:{world.home_house}"
    )


async def test_queue_reads_record_which_people_were_shown(world):
    created = await register(world)
    await world.client.get("/api/verification-queue", headers=await world.headers(Role.WARDEN))
    entry = await AuditEntry.objects().where(AuditEntry.action == "read_queue").first()
    person = (await Residency.objects().get(Residency.id == created.json()["residency_id"])).person
    detail = entry.detail if isinstance(entry.detail, dict) else msgspec.json.decode(entry.detail)
    assert person in detail["people"]


async def test_person_rows_hold_no_plaintext_phone_or_key_flag(world):
    person_id = await flagged_key_person(world)
    row = (await Person.raw("SELECT * FROM person WHERE id = {}", person_id))[0]
    stored = " ".join(str(value) for value in row.values())
    assert FORM["phone"] not in stored and "重点关注" not in stored
    assert not any(value is True or value == 1 for key, value in row.items() if "key" in key)
