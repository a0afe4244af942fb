"""The pure rules of video coverage and inspection schedules."""

from __future__ import annotations

import datetime as dt

from backend.video.schemas import CameraOut
from backend.video.service import LOCAL, REQUIRED, flags, gaps, missed_windows
from backend.video.tables import Area

GATES = [{"id": 1, "name": "1号门"}, {"id": 2, "name": "2号门"}]
UNITS = [
    {"id": 10, "building": 5, "label": "1栋1单元", "floors": 18},
    {"id": 11, "building": 6, "label": "2栋1单元", "floors": 3},
]


def camera(camera_id: int, area: Area, *, gate=None, unit=None, online=True, recorder=None) -> CameraOut:
    return CameraOut(
        id=camera_id,
        device_id=100 + camera_id,
        code=f"cam{camera_id}",
        name=f"摄像机{camera_id}",
        online=online,
        last_seen=None,
        stream_url="",
        area=area,
        gate_id=gate,
        building_id=None,
        unit_id=unit,
        place="",
        recorder_id=recorder,
        channel=None,
    )


def test_every_gate_and_unit_wants_its_camera_and_lifts_only_in_tall_buildings():
    found = gaps(
        [camera(1, Area.COMMUNITY_ENTRANCE, gate=1)], GATES, UNITS, [("北侧围墙", [7]), ("南侧围墙", [])]
    )
    places = {(g.area, g.place) for g in found}
    assert (Area.COMMUNITY_ENTRANCE, "2号门") in places and (Area.COMMUNITY_ENTRANCE, "1号门") not in places
    assert {(Area.UNIT_ENTRANCE, "1栋1单元"), (Area.UNIT_ENTRANCE, "2栋1单元")} <= places
    assert [g.place for g in found if g.area == Area.LIFT] == ["1栋1单元"]  # 3 floors: no lift
    assert [g.place for g in found if g.area == Area.PERIMETER] == ["南侧围墙"]
    assert {(area, "") for area in (Area.MAIN_PASSAGE, Area.CAR_PARK, Area.PUMP_ROOM)} <= places
    assert not {g for g in found if g.area in (Area.PLAYGROUND_WATER, Area.GAS_STATION, Area.OTHER)}


def test_a_community_with_every_required_area_covered_has_no_gap():
    everywhere = [
        camera(1, Area.COMMUNITY_ENTRANCE, gate=1),
        camera(2, Area.COMMUNITY_ENTRANCE, gate=2),
        *(
            camera(3 + i, area, unit=u["id"])
            for i, u in enumerate(UNITS)
            for area in (Area.UNIT_ENTRANCE, Area.LIFT)
        ),
        *(camera(20 + i, area) for i, area in enumerate(REQUIRED)),
    ]
    assert gaps(everywhere, GATES, UNITS, []) == []
    assert [g.area for g in gaps(everywhere[2:], [], UNITS, [])] == []  # no gates known: any entrance camera


def test_channels_under_30_days_unreported_or_unrecorded_are_flagged():
    recorders = {1: {"retention_days": 29}, 2: {"retention_days": 30}, 3: {"retention_days": None}}
    cameras = [
        camera(1, Area.CAR_PARK, recorder=1),
        camera(2, Area.CAR_PARK, recorder=2, online=False),
        camera(3, Area.CAR_PARK, recorder=3),
        camera(4, Area.CAR_PARK),
    ]
    assert [(f.camera_id, f.reason, f.retention_days) for f in flags(cameras, recorders)] == [
        (1, "retention_short", 29),
        (2, "offline", None),
        (3, "retention_unreported", None),
        (4, "no_recorder", None),
    ]


def test_windows_wholly_after_the_schedule_began_and_without_a_round_are_missed():
    since = dt.datetime(2026, 3, 1, 9, 30, tzinfo=LOCAL)
    now = dt.datetime(2026, 3, 2, 13, 0, tzinfo=LOCAL)
    rounds = [dt.datetime(2026, 3, 1, 12, 5, tzinfo=LOCAL), dt.datetime(2026, 3, 2, 1, 0, tzinfo=LOCAL)]
    missed = [(w.start.hour, w.start.day) for w in missed_windows(4, since, now, rounds)]
    # 06–12 began before the schedule; 12–18 had a round; 00–06 (2nd) had one; 12–18 (2nd) is not over.
    assert missed == [(18, 1), (6, 2)]
    assert missed_windows(4, since, now, rounds)[0].end == dt.datetime(2026, 3, 2, 0, 0, tzinfo=LOCAL)
