"""Self-registration → verification, staff registration, deregistration and the 常住 rule."""

from __future__ import annotations

import pytest

from backend.registry.enums import ResidenceCategory, ResidencyStatus
from backend.registry.tables import Person, Residency
from roles import Role

FORM = {
    "name": "赵子涵",
    "id_type": "111",
    "id_number": "11010519491231002X",
    "phone": "13712345678",
    "residence_category": "floating",
    "relation": "6",
    "reason": "01",
    "hukou_region": "110105",
    "hukou_address": "北京市朝阳区",
}


async def register(world, body=None, role=None, house=None):
    token = await world.house_plate(house or world.home_house)
    return await world.client.post(
        f"/api/plates/{token}/registrations", json=body or FORM, headers=await world.headers(role)
    )


async def test_anonymous_self_registration_is_pending_and_verified_by_a_warden(world):
    created = await register(world)
    assert created.status_code == 201 and created.json()["status"] == "pending"
    residency_id = created.json()["residency_id"]
    person = await Person.objects().get(
        Person.id == (await Residency.objects().get(Residency.id == residency_id)).person
    )
    # Derived from the ID number; stored sealed, never in clear.
    assert person.gender == "2" and str(person.birth_date) == "1949-12-31"
    assert "11010519491231002X" not in person.id_number_encrypted
    queue = await world.client.get("/api/verification-queue", headers=await world.headers(Role.WARDEN))
    item = next(i for i in queue.json() if i["residency_id"] == residency_id)
    assert item["registered_by"] == "self" and item["person"]["id_number"] == "110***********002X"
    verified = await world.client.post(
        f"/api/residencies/{residency_id}/verify", headers=await world.headers(Role.WARDEN)
    )
    assert verified.json() == {"residency_id": residency_id, "status": "verified"}
    again = await world.client.post(
        f"/api/residencies/{residency_id}/verify", headers=await world.headers(Role.WARDEN)
    )
    assert again.status_code == 409


async def test_the_other_communitys_queue_does_not_show_this_registration(world):
    residency_id = (await register(world)).json()["residency_id"]
    queue = await world.client.get(
        "/api/verification-queue", headers=await world.headers(Role.WARDEN, "other")
    )
    assert residency_id not in [i["residency_id"] for i in queue.json()]


async def test_rejection_needs_a_reason(world):
    residency_id = (await register(world)).json()["residency_id"]
    headers = await world.headers(Role.POLICE)
    missing = await world.client.post(f"/api/residencies/{residency_id}/reject", json={}, headers=headers)
    assert missing.status_code == 422 and missing.json()["extra"]["field"] == "reason"
    rejected = await world.client.post(
        f"/api/residencies/{residency_id}/reject", json={"reason": "信息不实"}, headers=headers
    )
    assert rejected.json()["status"] == "rejected"


async def test_staff_registration_is_verified_at_once(world):
    created = await register(world, role=Role.PROPERTY)
    assert created.status_code == 201 and created.json()["status"] == "verified"


async def test_staff_registering_the_same_person_twice_is_a_conflict(world):
    assert (await register(world, role=Role.WARDEN)).status_code == 201
    second = await register(world, role=Role.WARDEN)
    assert second.status_code == 409 and second.json()["extra"]["code"] == "already_registered"


async def test_signed_in_resident_adds_a_household_member(world):
    member = {
        **FORM,
        "phone": "13700001111",
        "relation": "3",
        "residence_category": "permanent",
        "reason": "00",
    }
    created = await register(world, member, role=Role.RESIDENT)
    assert created.status_code == 201 and created.json()["status"] == "pending"


@pytest.mark.parametrize(
    "change,field,code",
    [
        ({"id_number": "11010519491231002Y"}, "id_number", "invalid_id_number"),
        ({"id_number": "110105194912310021"}, "id_number", "invalid_id_number"),
        ({"id_number": "11010520991231002X"}, "id_number", "invalid_id_number"),
        ({"id_type": "999"}, "id_type", "invalid_code"),
        ({"ethnicity": "77"}, "ethnicity", "invalid_code"),
        ({"nationality": "XXX"}, "nationality", "invalid_code"),
        ({"hukou_region": "990000"}, "hukou_region", "invalid_code"),
        ({"relation": "Z"}, "relation", "invalid_code"),
        ({"reason": "99"}, "reason", "invalid_code"),
        ({"phone": "0271234567"}, "phone", "invalid_phone"),
        ({"gender": "1"}, "gender", "id_mismatch"),
        ({"birth_date": "1950-01-01"}, "birth_date", "id_mismatch"),
        ({"name": "   "}, "name", "required"),
    ],
)
async def test_invalid_fields_get_a_clear_422_naming_the_field(world, change, field, code):
    response = await register(world, {**FORM, **change})
    assert response.status_code == 422, response.text
    assert response.json()["extra"] == {"code": code, "field": field}
    assert response.json()["detail"]


async def test_passport_holders_register_too(world):
    passport = {
        **FORM,
        "id_type": "414",
        "id_number": "E12345678",
        "nationality": "KOR",
        "gender": "1",
        "birth_date": "1990-05-01",
        "hukou_region": "420112",
    }
    assert (await register(world, passport)).status_code == 201


async def test_malformed_bodies_are_400_not_500(world):
    for body in ({**FORM, "residence_category": "tourist"}, {**FORM, "name": "x" * 51}, {"name": "only"}):
        response = await register(world, body)
        assert response.status_code == 400, response.text


async def test_registration_only_at_flat_plates(world):
    from backend.registry.enums import PlaceKind

    token = await world.plate(world.home, PlaceKind.GATE)
    response = await world.client.post(f"/api/plates/{token}/registrations", json=FORM)
    assert response.status_code == 422 and response.json()["extra"]["code"] == "not_a_flat"


async def _residency_of(world, category: ResidenceCategory) -> int:
    rows = await Residency.select(Residency.id).where(
        (Residency.community == world.home)
        & (Residency.status == ResidencyStatus.VERIFIED)
        & (Residency.person.residence_category == category)
    )
    assert rows, f"the seed has no {category} resident"
    return rows[0]["id"]


@pytest.mark.parametrize("role", [Role.WARDEN, Role.PROPERTY, Role.POLICE])
async def test_nobody_may_deregister_a_permanent_resident(world, role):
    residency_id = await _residency_of(world, ResidenceCategory.PERMANENT)
    response = await world.client.post(
        f"/api/residencies/{residency_id}/end", json={"reason": "搬离"}, headers=await world.headers(role)
    )
    assert response.status_code == 403 and response.json()["extra"]["code"] == "permanent_resident"
    assert (await Residency.objects().get(Residency.id == residency_id)).status == ResidencyStatus.VERIFIED


async def test_floating_residents_can_be_deregistered_with_a_reason(world):
    residency_id = (await register(world, role=Role.WARDEN)).json()["residency_id"]
    headers = await world.headers(Role.WARDEN)
    missing = await world.client.post(
        f"/api/residencies/{residency_id}/end", json={"reason": ""}, headers=headers
    )
    assert missing.status_code == 422
    ended = await world.client.post(
        f"/api/residencies/{residency_id}/end", json={"reason": "搬离"}, headers=headers
    )
    assert ended.json()["status"] == "ended"
    row = await Residency.objects().get(Residency.id == residency_id)
    assert row.end_date is not None and row.decision_reason == "搬离"


async def flagged_key_person(world) -> int:
    """A resident registered by police and flagged 重点关注 through the API; the person's id."""
    residency_id = (await register(world, role=Role.POLICE)).json()["residency_id"]
    person_id = (await Residency.objects().get(Residency.id == residency_id)).person
    flagged = await world.client.post(
        f"/api/people/{person_id}/key-person",
        json={"key_person": True, "key_category": "重点关注"},
        headers=await world.headers(Role.POLICE),
    )
    assert flagged.status_code == 204
    return person_id


async def test_police_flag_a_key_person_and_only_police_see_it(world):
    await flagged_key_person(world)
    token = await world.house_plate(world.home_house)
    police = (await world.client.get(f"/api/scan/{token}", headers=await world.headers(Role.POLICE))).json()
    assert any(r.get("key_category") == "重点关注" for r in police["residents"])
    warden = (await world.client.get(f"/api/scan/{token}", headers=await world.headers(Role.WARDEN))).json()
    assert all("key_person" not in r for r in warden["residents"])


async def test_metrics_are_live(world):
    headers = await world.headers(Role.WARDEN)
    before = (await world.client.get(f"/api/communities/{world.home}/metrics", headers=headers)).json()
    assert before["doorplate_coverage"] == {
        "gate": 1.0,
        "building": 1.0,
        "unit": 1.0,
        "house": 1.0,
        "overall": 1.0,
    }
    await register(world)
    after = (await world.client.get(f"/api/communities/{world.home}/metrics", headers=headers)).json()
    people, people_before = after["people"], before["people"]
    assert people["total"] == people_before["total"] + 1 and people["verified"] == people_before["verified"]
    assert after["total"] == sum(after[k]["total"] for k in ("people", "houses", "organisations"))
    assert after["verified"] == sum(after[k]["verified"] for k in ("people", "houses", "organisations"))
    assert after["verification_rate"] == pytest.approx(after["verified"] / after["total"])
    assert after["verification_rate"] < before["verification_rate"]


async def test_communities_list_is_scoped(world):
    warden = (await world.client.get("/api/communities", headers=await world.headers(Role.WARDEN))).json()
    admin = (
        await world.client.get("/api/communities", headers=await world.headers(Role.DISTRICT_ADMIN))
    ).json()
    assert [c["id"] for c in warden] == [world.home]
    assert [c["id"] for c in admin] == [world.home, world.other]


async def test_code_tables_feed_the_forms(world):
    response = await world.client.get("/api/codes/MZ")
    assert response.status_code == 200
    assert {"code": "01", "label": "汉族"} in response.json()["codes"]
    assert (await world.client.get("/api/codes/NOPE")).status_code == 404


async def test_a_verified_registration_gives_its_phones_account_the_household(world):
    """Verification by staff plus the SMS code for the declared phone: the two halves of a home."""
    created = await register(world, {**FORM, "phone": "13766660000"})
    await world.client.post(
        f"/api/residencies/{created.json()['residency_id']}/verify", headers=await world.headers(Role.WARDEN)
    )
    tokens = await world.sign_in("13766660000")  # the account is created now, after verification
    token = await world.house_plate(world.home_house)
    view = await world.client.get(
        f"/api/scan/{token}", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert view.json()["viewer"] == "resident"


async def test_staff_registration_links_the_existing_account_of_that_phone(world):
    tokens = await world.sign_in("13766661111")
    await register(world, {**FORM, "phone": "13766661111"}, role=Role.PROPERTY)
    token = await world.house_plate(world.home_house)
    view = await world.client.get(
        f"/api/scan/{token}", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert view.json()["viewer"] == "resident"
