"""Arming schedules (分区、分时、分级设防): a perimeter detector's and a camera's signals at chosen
Wuhan times against the community's rules, through the alarms' own intake; and the API's refusals."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from backend.alarms.arming import LOCAL
from backend.alarms.kinds import AlarmType
from backend.alarms.tables import Alarm, AlarmSignal, PerimeterZone
from roles import Role
from tests.integration.test_alarms import signal

WEDNESDAY_NIGHT = dt.datetime(2026, 11, 25, 23, 30, tzinfo=LOCAL)
THURSDAY_DAWN = dt.datetime(2026, 11, 26, 5, 0, tzinfo=LOCAL)
THURSDAY_NOON = dt.datetime(2026, 11, 26, 12, 0, tzinfo=LOCAL)
THURSDAY_NIGHT = dt.datetime(2026, 11, 26, 23, 30, tzinfo=LOCAL)


async def zone_of(world, code: str, community=None) -> int:
    row = await PerimeterZone.select(PerimeterZone.id).where(
        (PerimeterZone.community == (community or world.home)) & (PerimeterZone.code == code)
    )
    return row[0]["id"]


async def add_rule(world, role=Role.PROPERTY, side="home", **body):
    return await world.client.post(
        f"/api/communities/{world.home}/arming", json=body, headers=await world.headers(role, side)
    )


async def intrusion(world, at: dt.datetime):
    """The south fence's detector fires at ``at``: the alarm it raised, if any."""
    return await signal(world, "pz-south", AlarmType.INTRUSION, f"arming-{secrets.token_hex(4)}", at=at)


async def test_a_zone_disarmed_by_day_raises_nothing_by_day_and_an_alarm_at_night(world):
    south = await zone_of(world, "south_fence")
    added = await add_rule(world, zone_id=south, level="off", start="08:00", until="20:00", note="白天施工")
    assert added.status_code == 201, added.text
    assert added.json() | {"id": 0} == {
        "id": 0,
        "community_id": world.home,
        "zone_id": south,
        "types": [],
        "days": "1234567",
        "start": "08:00",
        "until": "20:00",
        "level": "off",
        "note": "白天施工",
    }
    before = await Alarm.count()
    assert await intrusion(world, THURSDAY_NOON) is None
    assert await Alarm.count() == before
    assert await AlarmSignal.count() >= 1  # the signal was taken (a redelivery stays a no-op)
    raised = await intrusion(world, THURSDAY_NIGHT)
    assert raised is not None and (raised.type, raised.severity) == ("intrusion", "high")
    # The north fence has no rule: armed all day.
    north = await signal(world, "pz-north", AlarmType.INTRUSION, "arming-north", at=THURSDAY_NOON)
    assert north is not None


async def test_a_zones_night_rule_beats_the_communitys_and_an_overnight_window_belongs_to_its_first_day(
    world,
):
    south = await zone_of(world, "south_fence")
    # The whole community is disarmed for intrusions; the south fence is critical on Wednesday nights.
    assert (await add_rule(world, level="off", types=["intrusion"])).status_code == 201
    night = await add_rule(
        world, zone_id=south, level="critical", types=["intrusion"], days="3", start="22:00", until="06:00"
    )
    assert night.status_code == 201, night.text
    assert (await intrusion(world, WEDNESDAY_NIGHT)).severity == "critical"
    assert (await intrusion(world, THURSDAY_DAWN)).severity == "critical"  # still Wednesday's night
    assert await intrusion(world, THURSDAY_NIGHT) is None  # Thursday: only the community's rule
    north = await signal(world, "pz-north", AlarmType.INTRUSION, "arming-north", at=WEDNESDAY_NIGHT)
    assert north is None


async def test_an_off_rule_never_silences_a_rule_that_arms_and_other_types_are_untouched(world):
    assert (await add_rule(world, level="off")).status_code == 201
    assert (await add_rule(world, level="medium", types=["intrusion"])).status_code == 201
    assert (await intrusion(world, THURSDAY_NOON)).severity == "medium"
    loitering = await signal(world, "cam-south", AlarmType.LOITERING, "arming-loiter", at=THURSDAY_NOON)
    assert loitering is None  # disarmed by the community-wide rule
    tamper = await signal(world, "pz-south", AlarmType.TAMPER, "arming-tamper", at=THURSDAY_NOON)
    assert tamper is not None and tamper.severity == "medium"  # not an armable type: its own severity


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"level": "loud"}, "invalid_level"),
        ({"level": "off", "types": ["smoke"]}, "not_armable"),
        ({"level": "off", "days": "118"}, "invalid_days"),
        ({"level": "off", "days": "11"}, "invalid_days"),
        ({"level": "off", "start": "24:00"}, "invalid_time"),
        ({"level": "off", "until": "7:00"}, "invalid_time"),
    ],
)
async def test_a_rule_that_makes_no_sense_is_refused_with_its_reason(world, body, code):
    refused = await add_rule(world, **body)
    assert refused.status_code == 422 and refused.json()["extra"]["code"] == code


async def test_a_rule_cannot_name_another_communitys_zone_nor_be_set_by_others(world):
    theirs = await zone_of(world, "south_fence", world.other)
    refused = await add_rule(world, zone_id=theirs, level="off")
    assert refused.status_code == 422 and refused.json()["extra"]["code"] == "zone_elsewhere"
    for role, side in (
        (Role.RESIDENT, "home"),
        (Role.WARDEN, "home"),
        (Role.POLICE, "home"),
        (Role.PROPERTY, "other"),
    ):
        assert (await add_rule(world, role, side, level="off")).status_code == 403, (role, side)
    rule = (await add_rule(world, level="off")).json()
    stranger = await world.headers(Role.PROPERTY, "other")
    assert (await world.client.delete(f"/api/arming/{rule['id']}", headers=stranger)).status_code == 403
    assert (await world.client.delete(f"/api/arming/{rule['id']}")).status_code == 401
    mine = await world.headers(Role.PROPERTY)
    assert (await world.client.delete(f"/api/arming/{rule['id']}", headers=mine)).status_code == 204
    listed = await world.client.get(
        f"/api/communities/{world.home}/arming", headers=await world.headers(Role.POLICE)
    )
    assert listed.status_code == 200 and listed.json() == []
