"""The registry fills the city's tables: 一标三实 fields of people through the real registration and
verification flows, 实有单位, buildings' 楼栋信息, and the verification rate over all three."""

from __future__ import annotations

import pytest

from backend.registry.tables import Building, Organisation, Person, Residency, Unit
from backend.uplink import rows, standard
from roles import Role
from tests.integration.test_registration import FORM, register

STANDARD = {
    "occupation": "205",
    "education": "21",
    "marital_status": "20",
    "native_place": "420102",
    "service_place": "武汉市第一医院",
    "lodging": "05",
    "hukou_address": "北京市朝阳区建国路1号",
}


async def _person_of(residency_id: int) -> Person:
    residency = await Residency.objects().get(Residency.id == residency_id)
    return await Person.objects().get(Person.id == residency.person)


async def test_self_registration_and_verification_carry_the_ybss_fields(world):
    created = await register(world, {**FORM, **STANDARD, "marital_status": "10"})
    assert created.status_code == 201, created.text
    residency_id = created.json()["residency_id"]
    person = await _person_of(residency_id)
    assert (person.occupation, person.education, person.marital_status) == ("205", "21", "10")
    assert (person.native_place, person.service_place) == ("420102", "武汉市第一医院")
    assert (await Residency.objects().get(Residency.id == residency_id)).lodging == "05"

    police = await world.headers(Role.POLICE)
    queue = (await world.client.get("/api/verification-queue", headers=police)).json()
    shown = next(i for i in queue if i["residency_id"] == residency_id)["person"]
    assert shown["occupation"] == "205" and shown["lodging"] == "05" and shown["marital_status"] == "10"
    warden_queue = (
        await world.client.get("/api/verification-queue", headers=await world.headers(Role.WARDEN))
    ).json()
    assert "occupation" not in next(i for i in warden_queue if i["residency_id"] == residency_id)["person"]

    # The officer corrects the marital status on site and confirms the rest.
    verified = await world.client.post(
        f"/api/residencies/{residency_id}/verify",
        json={"standard": {"marital_status": "20", "service_place": "武汉大学中南医院"}},
        headers=police,
    )
    assert verified.status_code == 200, verified.text
    person = await _person_of(residency_id)
    assert (person.marital_status, person.service_place, person.occupation) == (
        "20",
        "武汉大学中南医院",
        "205",
    )

    row = await rows.ybss_row(world.ctx, residency_id)
    assert standard.check("ybss", row) == []
    assert row["ZYLBDM"] == "205" and row["HYZKDM"] == "20" and row["ZZCSDM"] == "05"
    assert row["SFZHM"] == FORM["id_number"] and row["LXDH"] == FORM["phone"]
    assert row["SSZRQDM"] and row["XZJDDM"] and row["YWLX"] == "01"


async def test_a_registration_without_the_ybss_fields_is_reported_not_sent_half_filled(world):
    residency_id = (await register(world, role=Role.POLICE)).json()["residency_id"]
    problems = standard.check("ybss", await rows.ybss_row(world.ctx, residency_id))
    missing = {p.field for p in problems if p.reason == "missing"}
    assert missing == {"ZYLBDM", "JGSSXDM", "ZZCSDM", "WHCDDM", "FWCS", "HYZKDM"}
    assert all(p.reason == "missing" for p in problems)


async def test_staff_registration_completes_a_known_person(world):
    first = await register(world, role=Role.WARDEN)
    assert first.status_code == 201
    other_flat = world.home_house + 1
    again = await register(
        world, {**FORM, "occupation": "X00", "education": "61"}, role=Role.WARDEN, house=other_flat
    )
    assert again.status_code == 201, again.text
    person = await _person_of(first.json()["residency_id"])
    assert (person.occupation, person.education) == ("X00", "61")


async def test_a_permanent_resident_has_no_temporary_lodging(world):
    body = {**FORM, "residence_category": "permanent", "reason": "00", "lodging": "05"}
    refused = await register(world, body)
    assert refused.status_code == 422 and refused.json()["extra"]["field"] == "lodging"
    created = await register(world, {**body, "lodging": ""})
    residency_id = created.json()["residency_id"]
    await world.client.post(
        f"/api/residencies/{residency_id}/verify", headers=await world.headers(Role.POLICE)
    )
    row = await rows.ybss_row(world.ctx, residency_id)
    assert row["ZZCSDM"] == rows.PERMANENT_LODGING


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occupation", "999"),
        ("occupation", "2-05"),
        ("education", "72"),
        ("marital_status", "11"),
        ("native_place", "990101"),
        ("lodging", "77"),
        ("service_place", "医" * 34),  # 102 bytes of UTF-8: over VARCHAR2(100)
    ],
)
async def test_bad_codes_are_refused_with_the_field_named(world, field, value):
    response = await register(world, {**FORM, field: value})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["extra"]["field"] == field
    assert "is not a code of" in body["detail"] or "bytes" in body["detail"]


async def test_verification_refuses_a_bad_code_and_changes_nothing(world):
    residency_id = (await register(world)).json()["residency_id"]
    police = await world.headers(Role.POLICE)
    bad = await world.client.post(
        f"/api/residencies/{residency_id}/verify", json={"standard": {"education": "99"}}, headers=police
    )
    assert bad.status_code == 422 and bad.json()["extra"]["field"] == "education"
    assert (await Residency.objects().get(Residency.id == residency_id)).status == "pending"
    unknown = await world.client.post(
        f"/api/residencies/{residency_id}/verify", json={"standard": {"hobby": "chess"}}, headers=police
    )
    assert unknown.status_code == 400 or unknown.status_code == 422


async def test_the_seeded_buildings_fill_the_building_table(world):
    unit = await Unit.objects().where(Unit.community == world.home).first()
    row = await rows.building_row(world.ctx, unit.id)
    assert standard.check("building", row) == []
    building = await Building.objects().get(Building.id == unit.building)
    assert row["WTDLR_LXDH"] and row["WTDLR_ZJLXMC"] == "居民身份证" and row["LD_TP"] == building.photo


# --- 实有单位 ---------------------------------------------------------------------------------------

ORG = {
    "name": "好邻居便利店",
    "kind": "individual",
    "contact_name": "王店长",
    "contact_phone": "13912340000",
}


def _credit(first17: str) -> str:
    from backend.registry.organisations import credit_check_character

    return first17 + credit_check_character(first17)


async def _metrics(world, role=Role.WARDEN):
    return (
        await world.client.get(f"/api/communities/{world.home}/metrics", headers=await world.headers(role))
    ).json()


async def test_organisations_entered_by_the_property_wait_for_the_police(world):
    before = await _metrics(world)
    property_staff = await world.headers(Role.PROPERTY)
    body = {**ORG, "credit_code": _credit("92420112MA4K12345")}
    created = await world.client.post(
        f"/api/communities/{world.home}/organisations", json=body, headers=property_staff
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["status"] == "pending" and org["contact_phone"] == "13912340000"
    stored = await Organisation.objects().get(Organisation.id == org["id"])
    assert "13912340000" not in stored.contact_phone_sealed

    middle = await _metrics(world)
    assert middle["organisations"]["total"] == before["organisations"]["total"] + 1
    assert middle["organisations"]["verified"] == before["organisations"]["verified"]
    assert middle["verification_rate"] < before["verification_rate"]

    police = await world.headers(Role.POLICE)
    verified = await world.client.post(f"/api/organisations/{org['id']}/verify", headers=police)
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    after = await _metrics(world)
    assert after["organisations"]["verified"] == before["organisations"]["verified"] + 1

    # A change by the property sends it back to the police; the police's own change does not.
    changed = await world.client.put(
        f"/api/organisations/{org['id']}", json={**body, "name": "好邻居超市"}, headers=property_staff
    )
    assert changed.json()["status"] == "pending" and changed.json()["name"] == "好邻居超市"
    changed = await world.client.put(
        f"/api/organisations/{org['id']}", json={**body, "name": "好邻居超市"}, headers=police
    )
    assert changed.json()["status"] == "pending"  # unchanged by the police's edit: still theirs to verify
    await world.client.post(f"/api/organisations/{org['id']}/verify", headers=police)
    changed = await world.client.put(f"/api/organisations/{org['id']}", json=body, headers=police)
    assert changed.json()["status"] == "verified"

    listed = (
        await world.client.get(
            f"/api/communities/{world.home}/organisations", headers=await world.headers(Role.WARDEN)
        )
    ).json()
    mine = next(o for o in listed if o["id"] == org["id"])
    assert mine["contact_phone"] != "13912340000" and mine["contact_phone"].endswith("0000")

    gone = await world.client.delete(f"/api/organisations/{org['id']}", headers=property_staff)
    assert gone.status_code == 204
    assert not await Organisation.exists().where(Organisation.id == org["id"])


async def test_the_police_register_verified_organisations(world):
    created = await world.client.post(
        f"/api/communities/{world.home}/organisations",
        json={"name": "社区卫生服务站", "kind": "institution"},
        headers=await world.headers(Role.POLICE),
    )
    assert created.status_code == 201 and created.json()["status"] == "verified"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"credit_code": "92420112MA4K12345"}, "credit_code"),  # 17 characters
        ({"credit_code": "92420112MA4K1234I5"}, "credit_code"),  # I is not in the alphabet
        ({"credit_code": "91350100M000100Y44"}, "credit_code"),  # wrong check character
        ({"contact_phone": "call me"}, "contact_phone"),
        ({"name": "   "}, "name"),
    ],
)
async def test_bad_organisation_input_is_refused(world, change, field):
    response = await world.client.post(
        f"/api/communities/{world.home}/organisations",
        json={**ORG, **change},
        headers=await world.headers(Role.PROPERTY),
    )
    assert response.status_code == 422, response.text
    assert response.json()["extra"]["field"] == field


async def test_an_organisation_cannot_name_another_communitys_address(world):
    from backend.registry.tables import Address

    elsewhere = await Address.objects().where(Address.community == world.other).first()
    response = await world.client.post(
        f"/api/communities/{world.home}/organisations",
        json={"name": "越界商店", "address_id": elsewhere.id},
        headers=await world.headers(Role.PROPERTY),
    )
    assert response.status_code == 422 and response.json()["extra"]["field"] == "address_id"


async def test_houses_count_in_the_verification_rate(world):
    before = await _metrics(world)
    assert before["houses"]["total"] > 0
    residency_id = (await register(world)).json()["residency_id"]
    pending = await _metrics(world)
    # The flat now has a registration waiting: not verified until it is decided.
    assert pending["houses"]["verified"] <= before["houses"]["verified"]
    await world.client.post(
        f"/api/residencies/{residency_id}/verify", headers=await world.headers(Role.POLICE)
    )
    after = await _metrics(world)
    assert after["houses"]["verified"] >= pending["houses"]["verified"]
    assert after["verified"] == sum(after[k]["verified"] for k in ("people", "houses", "organisations"))


# --- 楼栋信息 -------------------------------------------------------------------------------------

AGENT = {
    "floors_above": 18,
    "floors_below": 2,
    "floors_below_lived_in": 0,
    "nature": "住宅",
    "built_on": "2015-09-30",
    "photo": "/media/buildings/test/1.jpg",
    "agent_name": "李经理",
    "agent_id_type": "111",
    "agent_id_number": "11010519491231002X",
    "agent_phone": "13800001234",
}


async def test_property_staff_keep_a_buildings_details_and_the_row_fills(world):
    unit = await Unit.objects().where(Unit.community == world.home).first()
    property_staff = await world.headers(Role.PROPERTY)
    saved = await world.client.put(f"/api/buildings/{unit.building}", json=AGENT, headers=property_staff)
    assert saved.status_code == 200, saved.text
    assert saved.json()["agent_id_number"] == "110***********002X"  # masked for the property
    police = (
        await world.client.get(f"/api/buildings/{unit.building}", headers=await world.headers(Role.POLICE))
    ).json()
    assert police["agent_id_number"] == "11010519491231002X" and police["built_on"] == "2015-09-30"
    building = await Building.objects().get(Building.id == unit.building)
    assert "11010519491231002X" not in building.agent_id_number_sealed and building.floors_below == 2
    row = await rows.building_row(world.ctx, unit.id)
    assert standard.check("building", row) == []
    assert (row["WTDLR_XM"], row["WTDLR_ZJHM"], row["DM_CS"], row["DX_CS"]) == (
        "李经理",
        AGENT["agent_id_number"],
        18,
        2,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agent_id_number": "110105194912310021"}, "agent_id_number"),  # bad check digit
        ({"agent_id_type": "999"}, "agent_id_type"),
        ({"agent_phone": "phone"}, "agent_phone"),
        ({"built_on": "2999-01-01"}, "built_on"),
        ({"floors_below_lived_in": 3}, "floors_below_lived_in"),
    ],
)
async def test_bad_building_details_are_refused(world, change, field):
    unit = await Unit.objects().where(Unit.community == world.home).first()
    response = await world.client.put(
        f"/api/buildings/{unit.building}",
        json={**AGENT, **change},
        headers=await world.headers(Role.PROPERTY),
    )
    assert response.status_code == 422, response.text
    assert response.json()["extra"]["field"] == field


async def test_a_building_without_its_agent_is_reported(world):
    unit = await Unit.objects().where(Unit.community == world.home).first()
    await world.client.put(
        f"/api/buildings/{unit.building}",
        json={"floors_above": 6},
        headers=await world.headers(Role.PROPERTY),
    )
    problems = standard.check("building", await rows.building_row(world.ctx, unit.id))
    assert {p.field for p in problems} == {"WTDLR_XM", "WTDLR_ZJLXMC", "WTDLR_ZJHM", "WTDLR_LXDH", "LD_TP"}


async def test_the_community_buildings_list_what_their_rows_still_lack(world):
    police = await world.headers(Role.POLICE)
    listed = await world.client.get(f"/api/communities/{world.home}/buildings", headers=police)
    assert listed.status_code == 200, listed.text
    first = listed.json()[0]
    assert first["missing"] == [] and first["units"] >= 1  # the seed fills every field
    unit = await Unit.objects().where(Unit.building == first["id"]).first()
    cleared = await world.client.put(
        f"/api/buildings/{first['id']}", json={"floors_above": 6}, headers=police
    )
    assert cleared.status_code == 200, cleared.text
    again = (await world.client.get(f"/api/communities/{world.home}/buildings", headers=police)).json()[0]
    problems = standard.check("building", await rows.building_row(world.ctx, unit.id))
    assert {f["field"] for f in again["missing"]} == {p.field for p in problems if p.reason == "missing"}
    assert {"WTDLR_XM": "委托代理人姓名"}.items() <= {
        f["field"]: f["meaning"] for f in again["missing"]
    }.items()
    assert "11010519491231002X" not in listed.text + str(again)  # nothing personal in the list
