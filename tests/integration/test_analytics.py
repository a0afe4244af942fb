"""Analysis (研判): each rule fires on a synthetic history and stays quiet on an ordinary one; reruns
add nothing; police and wardens see their communities' findings, 重点人员 ones police only."""

from __future__ import annotations

import datetime as dt
import secrets

import msgspec
import pytest

from backend.access.tables import AccessRecord, Door
from backend.accounts.tables import Account
from backend.analytics.rules import LOCAL
from backend.analytics.service import KEY_PERSON_PUSH, analyse
from backend.analytics.tables import Finding, RuleName
from backend.audit.tables import AuditEntry
from backend.devices.ingest import transaction
from backend.live.tables import PushOutbox
from backend.registry.enums import HouseUse, ResidenceCategory, ResidencyStatus
from backend.registry.tables import House, Owner, Person, Residency
from backend.visitors.tables import PassKind, PassStatus, Visit, VisitorPass
from roles import Role

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(autouse=True)
def now() -> None:
    """Each test's own "now": the analysis runs as of it, and the history lies before it."""
    global NOW
    NOW = dt.datetime.now(dt.UTC)


def ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


async def new_person(world, name: str) -> int:
    person = Person(
        name=name,
        id_type="111",
        id_number_encrypted=world.ctx.keys.seal("420112199001011234"),
        id_number_hash=secrets.token_hex(16),
        gender="1",
        ethnicity="01",
        nationality="CHN",
        hukou_region="420112",
        hukou_address="武汉市东西湖区",
        residence_category=ResidenceCategory.PERMANENT,
    )
    await person.save()
    return person.id


async def occupy(world, house: dict, *names: str, owner_lives_there: bool, use: HouseUse) -> list[int]:
    """Replace the flat's residents with ``names`` (verified, moved in 100 days ago) and its owner."""
    await Residency.delete().where(Residency.house == house["id"])
    await Owner.delete().where(Owner.house == house["id"])
    people = [await new_person(world, name) for name in names]
    owner = people[0] if owner_lives_there else await new_person(world, "房东")
    await Owner(community=house["community"], house=house["id"], person=owner).save()
    for person in people:
        await Residency(
            community=house["community"],
            house=house["id"],
            person=person,
            relation="1",
            reason="00",
            start_date=(NOW - dt.timedelta(days=100)).date(),
            status=ResidencyStatus.VERIFIED,
        ).save()
    await House.update({House.use: use}).where(House.id == house["id"])
    return people


async def gate(community: int) -> dict:
    return await Door.select().where((Door.community == community) & (Door.kind == "gate")).first()


async def passed(community: int, person: int | None, house: int | None, at: dt.datetime, **fields) -> None:
    door = await gate(community)
    await AccessRecord(
        community=community,
        door=door["id"],
        device=door["device"],
        method=fields.get("method", "face"),
        direction=fields.get("direction", "in"),
        granted=True,
        person=person,
        house=house,
        credential=fields.get("credential", ""),
        resolution=fields.get("resolution", "person" if person else ""),
        at=at,
        key=f"test:{secrets.token_hex(8)}",
    ).save()


async def visited(world, house: dict, name: str, at: dt.datetime) -> None:
    issued = VisitorPass(
        community=house["community"],
        house=house["id"],
        kind=PassKind.INVITATION,
        issued_by=0,
        visitor_name=name,
        valid_from=at - dt.timedelta(hours=1),
        valid_until=at + dt.timedelta(hours=1),
        uses=2,
        uses_left=1,
        status=PassStatus.ACTIVE,
        share_hash=secrets.token_hex(16),
    )
    await issued.save()
    await Visit(
        visitor_pass=issued.id,
        community=house["community"],
        direction="in",
        via="link",
        granted=True,
        at=at,
        key=f"test:{secrets.token_hex(8)}",
    ).save()


def night(days_ago: int, hour: int = 2) -> dt.datetime:
    day = NOW.astimezone(LOCAL).date() - dt.timedelta(days=days_ago)
    return dt.datetime.combine(day, dt.time(hour, 10), LOCAL)


class History(msgspec.Struct):
    quiet: dict  # the ordinary flat: its owner lives there and passes every day
    rented: dict  # residents none of whom owns it, recorded 自住
    silent: dict  # lived in, recorded 自住, nobody passed for 40 days
    alone: int  # the silent flat's only resident
    night_owl: int
    day_worker: int
    key_person: int
    revoked_card_holder: int
    moved_out: int


@pytest.fixture
async def history(world) -> History:
    houses = (
        await House.select(House.id, House.community).where(House.community == world.home).order_by(House.id)
    )
    quiet, rented, silent = houses[1], houses[2], houses[3]
    [owner] = await occupy(world, quiet, "业主 安", owner_lives_there=True, use=HouseUse.SELF_OCCUPIED)
    night_owl, day_worker = await occupy(
        world, rented, "租客 夜", "租客 日", owner_lives_there=False, use=HouseUse.SELF_OCCUPIED
    )
    [alone] = await occupy(world, silent, "独居 老人", owner_lives_there=True, use=HouseUse.SELF_OCCUPIED)
    c = world.home
    await passed(c, owner, quiet["id"], ago(days=40))  # the records reach back 40 days
    await passed(c, alone, silent["id"], ago(days=40))  # the silent flat's last pass
    await passed(c, owner, quiet["id"], ago(hours=3))
    for days in (1, 2, 3):
        await passed(c, night_owl, rented["id"], night(days))
        await passed(c, day_worker, rented["id"], night(days, hour=14))
    await passed(c, day_worker, rented["id"], night(4))  # one night entry: below the count
    # Visitors: the rented flat has six this week against one a week before; the quiet flat has as
    # many this week as every week.
    for i in range(6):
        await visited(world, rented, f"访客{i}", ago(days=1, hours=i))
        await visited(world, quiet, f"朋友{i}", ago(days=1, hours=i))
    await visited(world, rented, "老朋友", ago(days=10))
    for week in range(1, 5):
        for i in range(6):
            await visited(world, quiet, f"朋友{week}-{i}", ago(days=7 * week + 1, hours=i))
    key_person = await flagged(world, owner)
    revoked_card_holder, moved_out = night_owl, day_worker
    await card_after_revocation(world, rented, revoked_card_holder)
    await tag_after_moving_out(world, rented, moved_out)
    await passed(c, None, None, ago(hours=1), method="card", credential="9999999999", resolution="unknown")
    return History(
        quiet, rented, silent, alone, night_owl, day_worker, key_person, revoked_card_holder, moved_out
    )


async def flagged(world, person: int) -> int:
    response = await world.client.post(
        f"/api/people/{person}/key-person",
        json={"key_person": True, "key_category": "重点人口"},
        headers=await world.headers(Role.POLICE),
    )
    assert response.status_code in (200, 204), response.text
    return person


async def register(world, house: dict, person: int, kind: str, value: str) -> dict:
    response = await world.client.post(
        f"/api/houses/{house['id']}/credentials",
        json={"person_id": person, "kind": kind, "value": value},
        headers=await world.headers(Role.PROPERTY),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def card_after_revocation(world, house: dict, person: int) -> None:
    card = await register(world, house, person, "card", "5500000001")
    response = await world.client.post(
        f"/api/credentials/{card['id']}/revoke", headers=await world.headers(Role.PROPERTY)
    )
    assert response.status_code == 204, response.text
    after = dt.datetime.now(dt.UTC)  # revoked a moment ago
    await passed(
        house["community"], None, None, after, method="card", credential="5500000001", resolution="unknown"
    )


async def tag_after_moving_out(world, house: dict, person: int) -> None:
    await register(world, house, person, "tag", "EBTAG0001")
    await Residency.update({Residency.end_date: (NOW - dt.timedelta(days=3)).date()}).where(
        (Residency.person == person) & (Residency.house == house["id"])
    )
    await passed(
        house["community"],
        None,
        None,
        ago(hours=2),
        method="tag",
        credential="EBTAG0001",
        resolution="unknown",
    )


async def findings(rule: RuleName) -> list[dict]:
    return await Finding.select().where(Finding.rule == rule)


def about(rows: list[dict], *, house: int | None = None, person: int | None = None) -> list[dict]:
    return [
        r
        for r in rows
        if (house is None or r["house"] == house) and (person is None or r["person"] == person)
    ]


def evidence(row: dict) -> dict:
    return msgspec.json.decode(row["evidence"]) if isinstance(row["evidence"], str) else row["evidence"]


async def run(world, community: int | None = None) -> dict:
    return dict(await analyse(transaction, world.ctx.settings, world.ctx.keys, community, NOW))


# --- each rule, both ways -------------------------------------------------------------------------


async def test_occupancy_from_residents_owners_and_silence(world, history):
    await run(world, world.home)
    rows = await findings(RuleName.OCCUPANCY)
    assert about(rows, house=history.quiet["id"]) == []
    [rented] = about(rows, house=history.rented["id"])
    assert evidence(rented) | {} == {
        "derived": "rented",
        "recorded": "self_occupied",
        "residents": 1,  # the other moved out three days ago
        "owner_lives_there": False,
        "no_pass_for_days": None,
    }
    [silent] = about(rows, house=history.silent["id"])
    assert evidence(silent)["derived"] == "vacant" and evidence(silent)["no_pass_for_days"] == 30
    assert silent["period"] == NOW.astimezone(LOCAL).strftime("%Y-%m")


async def test_a_flat_whose_visitors_rise_sharply(world, history):
    await run(world, world.home)
    rows = await findings(RuleName.VISITOR_SURGE)
    assert about(rows, house=history.quiet["id"]) == []  # six this week, as every week
    [surge] = about(rows, house=history.rented["id"])
    assert evidence(surge) == {"visitors": 6, "baseline": 0.25, "days": 7}


async def test_entries_at_unusual_hours(world, history):
    await run(world, world.home)
    rows = await findings(RuleName.NIGHT_ENTRIES)
    assert about(rows, person=history.day_worker) == []  # three in the afternoon, one at night
    [owl] = about(rows, person=history.night_owl)
    assert evidence(owl)["entries"] == 3 and evidence(owl)["hours"] == "0-5"
    assert all(p["at"][11:13] == "02" for p in evidence(owl)["passes"])


async def test_a_person_living_alone_not_seen_becomes_a_welfare_task(world, history):
    await run(world, world.home)
    rows = await findings(RuleName.WELFARE)
    [task] = about(rows, person=history.alone)
    assert task["house"] == history.silent["id"] and task["state"] == "open"
    assert evidence(task)["days"] == 40
    assert (
        about(rows, person=history.key_person) == []
    )  # the quiet flat's owner: alone too, seen three hours ago


async def test_credentials_used_after_revocation_or_moving_out(world, history):
    await run(world, world.home)
    rows = await findings(RuleName.CREDENTIAL_AFTER_END)
    assert {(r["person"], evidence(r)["kind"], evidence(r)["ended"]) for r in rows} == {
        (history.revoked_card_holder, "card", "revoked"),
        (history.moved_out, "tag", "residency_ended"),
    }  # the card nobody ever held is no one's


async def test_key_person_movement_alerts_the_police(world, history):
    await run(world, world.home)
    rows = await findings(RuleName.KEY_PERSON_MOVEMENT)
    assert {r["person"] for r in rows} == {history.key_person}  # seeded key persons did not pass
    [found] = rows
    assert found["police_only"] is True and len(evidence(found)["passes"]) == 1  # three hours ago
    police = await Account.select(Account.id).where(
        (Account.phone == world.phone(Role.POLICE)) & (Account.role == Role.POLICE)
    )
    pushed = await PushOutbox.select(PushOutbox.account, PushOutbox.message)
    assert {p["account"] for p in pushed} == {police[0]["id"]}  # the community's police, nobody else
    assert msgspec.json.decode(pushed[0]["message"])["title"] == KEY_PERSON_PUSH.title


async def test_a_rerun_adds_nothing(world, history):
    first = await run(world)
    assert all(first[rule] >= 1 for rule in RuleName), first
    stored = await Finding.count()
    again = await run(world)
    assert sum(again.values()) == 0 and await Finding.count() == stored
    assert await PushOutbox.count() == 1  # the police were told once


async def test_quiet_on_an_ordinary_community(world):
    """The seeded second community has no passes or visits: silence there means nothing."""
    await run(world, world.other)
    rules = {r["rule"] for r in await Finding.select(Finding.rule).where(Finding.community == world.other)}
    assert rules <= {RuleName.OCCUPANCY}  # only empty flats or tenants the seed recorded otherwise
    vacant_by_silence = [
        r for r in await findings(RuleName.OCCUPANCY) if evidence(r)["no_pass_for_days"] is not None
    ]
    assert vacant_by_silence == []


# --- who sees them --------------------------------------------------------------------------------


async def listed(world, role: Role, community: int, side: str = "home", query: str = ""):
    return await world.client.get(
        f"/api/communities/{community}/findings{query}", headers=await world.headers(role, side)
    )


async def test_police_see_key_person_findings_and_wardens_never(world, history):
    await run(world, world.home)
    police = await listed(world, Role.POLICE, world.home)
    assert police.status_code == 200, police.text
    assert RuleName.KEY_PERSON_MOVEMENT in {f["rule"] for f in police.json()}
    warden = await listed(world, Role.WARDEN, world.home)
    assert warden.status_code == 200
    assert {f["rule"] for f in warden.json()} >= {"welfare", "night_entries"}
    assert RuleName.KEY_PERSON_MOVEMENT not in {f["rule"] for f in warden.json()}
    asked = await listed(world, Role.WARDEN, world.home, query="?rule=key_person_movement")
    assert asked.status_code == 200 and asked.json() == []
    [key] = await findings(RuleName.KEY_PERSON_MOVEMENT)
    closing = await world.client.post(
        f"/api/findings/{key['id']}/close", json={"note": "看看"}, headers=await world.headers(Role.WARDEN)
    )
    assert closing.status_code == 404  # a warden learns nothing of it, not even that it exists
    reads = await AuditEntry.select(AuditEntry.action).where(AuditEntry.action == "read_findings")
    assert len(reads) == 3  # every staff read audited


@pytest.mark.parametrize(
    "role, side",
    [(Role.RESIDENT, "home"), (Role.PROPERTY, "home"), (Role.WARDEN, "other"), (Role.POLICE, "other")],
)
async def test_residents_others_and_other_communities_see_nothing(world, history, role, side):
    await run(world, world.home)
    response = await listed(world, role, world.home, side)
    assert response.status_code == 403, response.text


async def test_the_warden_closes_a_welfare_task(world, history):
    await run(world, world.home)
    [task] = about(await findings(RuleName.WELFARE), person=history.alone)
    headers = await world.headers(Role.WARDEN)
    closed = await world.client.post(
        f"/api/findings/{task['id']}/close", json={"note": "已上门, 老人安好"}, headers=headers
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed" and closed.json()["name"] == "独居 老人"
    row = await Finding.objects().get(Finding.id == task["id"])
    warden = await Account.select(Account.id).where(Account.phone == world.phone(Role.WARDEN)).first()
    assert (row.state, row.handled_by, row.note) == ("closed", warden["id"], "已上门, 老人安好")
    again = await world.client.post(f"/api/findings/{task['id']}/close", json={}, headers=headers)
    assert again.status_code == 409
    open_only = await listed(world, Role.WARDEN, world.home, query="?state=open")
    assert task["id"] not in {f["id"] for f in open_only.json()}
    await run(world, world.home)  # the same silence: the closed task is not opened again
    assert len(about(await findings(RuleName.WELFARE), person=history.alone)) == 1
