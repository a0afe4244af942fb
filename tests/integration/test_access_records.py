"""Reading who passed: households, communities with filters and pages, the CSV export, and its audit."""

from __future__ import annotations

import csv
import io
import json

import pytest

from backend.audit.tables import AuditEntry
from backend.credentials.tables import Credential
from backend.registry.tables import Person
from backend.seed import DEMO_CARDS
from device_bridge.bridge import running
from roles import Role
from tests.integration.test_bridge import Fleet, new_bridge
from tests.integration.test_credentials import card_for, lodger, passes

FORMULA = "=HYPERLINK(1)"


@pytest.fixture
async def history(world, settings):
    """Passes at the home gate: the resident's card twice, a neighbour's card, an unknown card, a face."""
    resident = (await Credential.objects().where(Credential.community == world.home).first()).person
    neighbour = await lodger(world, world.home)
    await card_for(world, neighbour["person"], neighbour["house"], "55501234")
    async with running(new_bridge(world, settings)):
        records = await passes(
            Fleet(world, settings),
            {"method": "card", "credential": DEMO_CARDS[0]},
            {"method": "card", "credential": "55501234"},
            {"method": "card", "credential": FORMULA},
            {"method": "face"},
            {"method": "card", "credential": DEMO_CARDS[0], "direction": "out"},
        )
    return {"resident": resident, "neighbour": neighbour, "records": records}


async def get(world, url, role, community="home", **params):
    return await world.client.get(url, params=params, headers=await world.headers(role, community))


def id_number(world, person: Person) -> str:
    return world.ctx.keys.unseal(person.id_number_encrypted)


async def test_a_resident_sees_their_households_passes_only(world, history):
    response = await get(world, f"/api/houses/{world.home_house}/access-records", Role.RESIDENT)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["person_id"] for i in items] == [history["resident"]] * 2
    assert [i["direction"] for i in items] == ["out", "in"]  # newest first
    person = await Person.objects().get(Person.id == history["resident"])
    full = id_number(world, person)
    assert items[0]["name"] == person.name and items[0]["id_number"] == full[:3] + "*" * 11 + full[-4:]
    assert DEMO_CARDS[0] not in response.text  # the card is masked too


async def test_my_passes_are_my_households_and_staff_have_none(world, history):
    mine = await get(world, "/api/me/access-records", Role.RESIDENT)
    assert [i["person_id"] for i in mine.json()["items"]] == [history["resident"]] * 2
    for role in (Role.WARDEN, Role.POLICE):
        assert (await get(world, "/api/me/access-records", role)).status_code == 403


async def test_a_resident_cannot_read_another_household_or_the_community(world, history):
    other_house = await get(
        world, f"/api/houses/{history['neighbour']['house']}/access-records", Role.RESIDENT
    )
    community = await get(world, f"/api/communities/{world.home}/access-records", Role.RESIDENT)
    export = await get(world, f"/api/communities/{world.home}/access-records.csv", Role.RESIDENT)
    assert other_house.status_code == community.status_code == export.status_code == 403


@pytest.mark.parametrize(
    ("role", "community", "status"),
    [
        (None, "home", 401),
        (Role.PROPERTY, "home", 403),
        (Role.MAINTENANCE, "home", 403),
        (Role.POLICE, "other", 403),
        (Role.WARDEN, "other", 403),
    ],
)
async def test_other_roles_and_communities_read_nothing(world, history, role, community, status):
    for url in (
        f"/api/communities/{world.home}/access-records",
        f"/api/communities/{world.home}/access-records.csv",
    ):
        response = await get(world, url, role, community)
        assert response.status_code == status and response.json()["detail"]


async def test_a_warden_reads_the_community_masked_and_is_audited(world, history):
    response = await get(world, f"/api/communities/{world.home}/access-records", Role.WARDEN)
    items = response.json()["items"]
    assert len(items) == 5
    unknown = [i for i in items if i["resolution"] == "unknown"]
    assert len(unknown) == 1 and unknown[0]["person_id"] is None and unknown[0]["name"] == ""
    assert all("*" in i["id_number"] for i in items if i["person_id"])
    entry = await AuditEntry.objects().where(AuditEntry.action == "read_access_records").first()
    people = json.loads(entry.detail)["people"]
    assert sorted(people) == sorted({history["resident"], history["neighbour"]["person"]})


async def test_police_filter_and_page_through_the_full_records(world, history):
    url = f"/api/communities/{world.home}/access-records"
    mine = (await get(world, url, Role.POLICE, person_id=history["resident"])).json()["items"]
    person = await Person.objects().get(Person.id == history["resident"])
    assert len(mine) == 2 and {i["id_number"] for i in mine} == {id_number(world, person)}
    assert {i["credential"] for i in mine} == {DEMO_CARDS[0]}
    faces = (await get(world, url, Role.POLICE, method="face")).json()["items"]
    assert [i["method"] for i in faces] == ["face"] and faces[0]["sk_fsdm"] == "03"
    first = history["records"][0].at
    later = (await get(world, url, Role.POLICE, since=first.isoformat(), until=first.isoformat())).json()[
        "items"
    ]
    assert later == []  # [since, until) is empty when they are equal
    pages, before = [], None
    while True:
        page = (await get(world, url, Role.POLICE, limit=2, **({"before": before} if before else {}))).json()
        pages.append([i["id"] for i in page["items"]])
        if not (before := page["next_before"]):
            break
    assert [len(p) for p in pages] == [2, 2, 1] and sorted(sum(pages, []), reverse=True) == sum(pages, [])


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-01-01T08:00:00"},
        {"limit": 0},
        {"limit": 9999},
        {"method": "telepathy"},
        {"door_id": -1},
    ],
)
async def test_bad_filters_are_refused_with_a_reason(world, history, params):
    response = await get(world, f"/api/communities/{world.home}/access-records", Role.WARDEN, **params)
    assert response.status_code in (400, 422) and response.json()["detail"]


async def test_the_csv_export_opens_in_excel_and_is_audited(world, history):
    response = await get(world, f"/api/communities/{world.home}/access-records.csv", Role.POLICE)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["ID 记录 ID", "SK_RQSJ 刷卡日期时间", "MP_MC 门"] and len(body) == 5
    columns = {name.split()[0]: index for index, name in enumerate(header)}
    person = await Person.objects().get(Person.id == history["resident"])
    ours = [r for r in body if r[columns["XM"]] == person.name]
    assert len(ours) == 2 and {r[columns["GMSFHM"]] for r in ours} == {id_number(world, person)}
    assert {r[columns["SK_FSDM"]] for r in ours} == {"01"} and {r[columns["KMFS_MC"]] for r in ours} == {
        "刷卡"
    }
    assert sorted(r[columns["JCDZ_MC"]] for r in ours) == ["出", "进"]
    [unknown] = [r for r in body if r[columns["BZ"]] == "未登记凭证"]
    assert unknown[columns["JMK_BH"]] == "'" + FORMULA and unknown[columns["XM"]] == ""  # inert in Excel
    entry = await AuditEntry.objects().where(AuditEntry.action == "export_access_records").first()
    assert history["resident"] in json.loads(entry.detail)["people"]


async def test_a_wardens_export_masks_id_and_card_numbers(world, history):
    response = await get(
        world, f"/api/communities/{world.home}/access-records.csv", Role.WARDEN, person_id=history["resident"]
    )
    text = response.content.decode("utf-8-sig")
    person = await Person.objects().get(Person.id == history["resident"])
    assert id_number(world, person) not in text and DEMO_CARDS[0] not in text
    assert len(list(csv.reader(io.StringIO(text)))) == 3
