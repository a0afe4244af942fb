"""E-bikes and their anti-theft tags: the registry, "tag seen leaving without its owner's pass",
and the community's tag coverage (API and /metrics)."""

from __future__ import annotations

import datetime as dt
import secrets

import msgspec
import pytest

from backend.access.tables import AccessRecord
from backend.accounts.tables import Account
from backend.alarms.tables import Alarm, AlarmSignal
from backend.credentials.tables import Credential
from backend.devices.ingest import transaction
from backend.devices.tables import DeviceKind
from backend.ebikes.tables import EBike
from backend.ebikes.watch import check_tags
from backend.live.tables import PushOutbox
from device_bridge.bridge import running
from roles import Role
from tests.integration.test_bridge import Fleet, eventually, new_bridge
from tests.integration.test_credentials import card_for, resident_person
from tests.integration.test_metrics import TOKEN, scrape, value

TAG = "EB00AA11"
WINDOW = dt.timedelta(seconds=120)  # ANJU_TAG_WINDOW_SECONDS' default


@pytest.fixture
def settings(settings):
    return msgspec.structs.replace(settings, metrics_token=TOKEN)


async def register(world, body: dict, role: Role = Role.RESIDENT, house: int | None = None):
    return await world.client.post(
        f"/api/houses/{house or world.home_house}/ebikes", json=body, headers=await world.headers(role)
    )


async def test_a_resident_registers_an_ebike_with_its_tag(world):
    owner = await resident_person(world)
    response = await register(world, {"person_id": owner, "brand": "雅迪", "colour": "白", "tag": TAG})
    assert response.status_code == 201, response.text
    ebike = response.json()
    assert ebike["tagged"] and ebike["tag_shown"] != TAG and ebike["tag_shown"].endswith("11")
    tag = await Credential.objects().get(Credential.id == ebike["tag_id"])
    assert (tag.kind, tag.person, tag.house, tag.label) == ("tag", owner, world.home_house, "雅迪 白")
    assert world.ctx.keys.unseal(tag.value_sealed) == TAG
    listed = await world.client.get(
        f"/api/houses/{world.home_house}/ebikes", headers=await world.headers(Role.PROPERTY)
    )
    assert [e["id"] for e in listed.json()] == [ebike["id"]]
    again = await register(world, {"person_id": owner, "tag": TAG.lower()})
    assert again.status_code == 409  # one active holder per tag and community
    stranger = await register(world, {"person_id": owner, "tag": "EB0000FF"}, house=world.other_house)
    assert stranger.status_code == 403


async def test_bad_input_is_a_clear_4xx(world):
    owner = await resident_person(world)
    for body, code in (
        ({"person_id": owner, "tag": "标签"}, 422),
        ({"person_id": owner, "brand": "x" * 31}, 400),
        ({"person_id": 999999}, 422),
    ):
        response = await register(world, body)
        assert response.status_code == code, (body, response.text)


# --- coverage ---------------------------------------------------------------------------------


async def test_coverage_is_exact_on_a_registered_set(world):
    """Ten e-bikes, nine carrying an active tag; one more removed (its tag revoked): 90 %."""
    owner = await resident_person(world)
    ids = []
    for i in range(11):
        body = {"person_id": owner, "brand": f"车{i}"} | ({"tag": f"EBCOV{i:04d}"} if i != 0 else {})
        response = await register(world, body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    removed = await world.client.post(
        f"/api/ebikes/{ids[-1]}/remove", headers=await world.headers(Role.RESIDENT)
    )
    assert removed.status_code == 204
    assert (await EBike.objects().get(EBike.id == ids[-1])).removed_at is not None
    assert (
        await Credential.count().where((Credential.kind == "tag") & Credential.active_hash.is_not_null()) == 9
    )
    for role in (Role.WARDEN, Role.POLICE, Role.PROPERTY):
        response = await world.client.get(
            f"/api/communities/{world.home}/ebike-coverage", headers=await world.headers(role)
        )
        assert response.json() == {
            "community": world.home,
            "ebikes": 10,
            "tagged": 9,
            "coverage": 0.9,
            "target": 0.9,
        }
    other = await world.client.get(
        f"/api/communities/{world.other}/ebike-coverage", headers=await world.headers(Role.WARDEN, "other")
    )
    assert other.json()["ebikes"] == 0 and other.json()["coverage"] is None
    text = await scrape(world.client)
    home = str(world.home)
    assert value(text, "anju_ebike_tag_coverage", community=home) == 0.9
    assert value(text, "anju_ebikes", community=home, tag="active") == 9
    assert value(text, "anju_ebikes", community=home, tag="none") == 1
    assert "EBCOV" not in text and "车" not in text  # no tag numbers, no bikes, no people


async def test_tagging_an_untagged_ebike_raises_coverage(world):
    owner = await resident_person(world)
    ebike = (await register(world, {"person_id": owner})).json()
    tagged = await world.client.post(
        f"/api/ebikes/{ebike['id']}/tag", json={"tag": "EBLATE01"}, headers=await world.headers(Role.RESIDENT)
    )
    assert tagged.status_code == 200 and tagged.json()["tagged"]
    twice = await world.client.post(
        f"/api/ebikes/{ebike['id']}/tag", json={"tag": "EBLATE02"}, headers=await world.headers(Role.RESIDENT)
    )
    assert twice.status_code == 409


# --- tag seen leaving without its owner -------------------------------------------------------------


@pytest.fixture
async def tagged_owner(world) -> int:
    owner = await resident_person(world)
    response = await register(world, {"person_id": owner, "brand": "爱玛", "tag": TAG})
    assert response.status_code == 201, response.text
    return owner


async def through_the_gate(world, settings, *events: tuple[dict, dt.datetime]) -> list[AccessRecord]:
    """Publish access events as the home gate's face gate, each at its device time; their records."""
    fleet = Fleet(world, settings)
    ids = []
    async with running(new_bridge(world, settings)):
        for data, at in events:
            event_id = f"t-{secrets.token_hex(4)}"
            ids.append(event_id)
            await fleet.publish(
                DeviceKind.FACE_GATE, [(event_id, "access", {"granted": True, **data})], ts=at
            )
        keys = [AccessRecord.key.like(f"ev:%:{event_id}") for event_id in ids]
        await eventually(lambda: _stored(keys))
    return [await AccessRecord.objects().where(key).first() for key in keys]


async def _stored(keys) -> bool:
    return all([await AccessRecord.exists().where(key) for key in keys])


async def judge(settings, at: dt.datetime) -> int:
    return await check_tags(transaction, settings, at)


async def test_no_alarm_when_the_owner_passes_within_the_window(world, settings, tagged_owner):
    await card_for(world, tagged_owner, world.home_house, "3086000001")
    now = dt.datetime.now(dt.UTC)
    tag, card = await through_the_gate(
        world,
        settings,
        ({"method": "tag", "credential": TAG, "direction": "out"}, now - dt.timedelta(seconds=60)),
        ({"method": "card", "credential": "3086000001", "direction": "out"}, now),  # a minute after
    )
    assert (tag.person, tag.resolution, card.person) == (tagged_owner, "person", tagged_owner)
    assert await judge(settings, tag.at + WINDOW + dt.timedelta(seconds=1)) == 0
    assert await Alarm.count().where(Alarm.type == "tag_without_owner") == 0
    assert await AlarmSignal.exists().where(AlarmSignal.key == f"tag:{tag.key}")  # judged, once


async def test_an_alarm_when_the_tag_leaves_alone(world, settings, tagged_owner):
    now = dt.datetime.now(dt.UTC)
    [tag] = await through_the_gate(
        world, settings, ({"method": "tag", "credential": TAG, "direction": "out"}, now)
    )
    assert await judge(settings, now + dt.timedelta(seconds=30)) == 0  # the owner may still come
    assert await Alarm.count().where(Alarm.type == "tag_without_owner") == 0
    assert await judge(settings, now + WINDOW + dt.timedelta(seconds=1)) == 1
    [alarm] = await Alarm.select().where(Alarm.type == "tag_without_owner")
    assert (alarm["house"], alarm["device"], alarm["category"], alarm["state"]) == (
        world.home_house,
        tag.device,
        "perimeter",
        "new",
    )
    assert "EB00AA11" not in alarm["detail"] and "AA11" in alarm["detail"]
    told = {row["account"] for row in await PushOutbox.select(PushOutbox.account)}
    property_staff = await Account.select(Account.id).where(Account.phone == world.phone(Role.PROPERTY))
    resident = await Account.select(Account.id).where(Account.phone == world.phone(Role.RESIDENT))
    assert {property_staff[0]["id"], resident[0]["id"]} <= told  # the guards, and the owner's household
    police = await Account.select(Account.id).where(Account.phone == world.phone(Role.POLICE))
    assert police[0]["id"] not in told
    assert await judge(settings, now + 2 * WINDOW) == 0  # judged once, however often the job runs
    assert await Alarm.count().where(Alarm.type == "tag_without_owner") == 1


async def test_an_inbound_tag_or_an_unknown_tag_raises_nothing(world, settings, tagged_owner):
    now = dt.datetime.now(dt.UTC)
    await through_the_gate(
        world,
        settings,
        ({"method": "tag", "credential": TAG, "direction": "in"}, now),
        ({"method": "tag", "credential": "EBNOBODY", "direction": "out"}, now),
    )
    assert await judge(settings, now + WINDOW + dt.timedelta(seconds=1)) == 0
    assert await Alarm.count().where(Alarm.type == "tag_without_owner") == 0
