"""The patrol rules: which round a run belongs to (midnight included) and what a round is flagged for."""

import datetime as dt

from backend.patrol.rules import LOCAL, Round, Shift, Stop, flags, minutes_of, round_at
from backend.patrol.tables import FlagKind

NIGHT = Shift(starts=22 * 60, ends=6 * 60, every=120, tolerance=10)
STOPS = [Stop(checkpoint=10 + n, position=n, minute=(n - 1) * 10) for n in range(1, 6)]
START = dt.datetime(2026, 11, 25, 22, 0, tzinfo=LOCAL)
ROUND = Round(START, START + dt.timedelta(hours=2))


def at(minutes: float) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=LOCAL)


def kinds(found) -> list[tuple[int, FlagKind]]:
    return [(flag.checkpoint, flag.kind) for flag in found]


def test_a_round_on_time_and_in_order_is_not_flagged():
    assert flags(STOPS, [(s.checkpoint, at(s.minute + 3)) for s in STOPS], ROUND, 10) == []


def test_a_skipped_checkpoint_is_missed():
    scans = [(s.checkpoint, at(s.minute)) for s in STOPS if s.position != 3]
    assert kinds(flags(STOPS, scans, ROUND, 10)) == [(12 + 1, FlagKind.MISSED)]


def test_checkpoints_scanned_against_the_route_order_are_out_of_order():
    order = [11, 12, 14, 13, 15]
    scans = [(checkpoint, at(index * 10)) for index, checkpoint in enumerate(order)]
    found = kinds(flags(STOPS, scans, ROUND, 10))
    assert (13, FlagKind.OUT_OF_ORDER) in found and all(kind is not FlagKind.MISSED for _, kind in found)
    assert [c for c, kind in found if kind is FlagKind.OUT_OF_ORDER] == [13]


def test_early_and_late_beyond_the_tolerance_are_flagged_and_within_it_not():
    scans = [(11, at(-11)), (12, at(10 + 9)), (13, at(20 + 15)), (14, at(30 + 8)), (15, at(40 - 1))]
    found = flags(STOPS, scans, ROUND, 10)
    assert kinds(found) == [(11, FlagKind.EARLY), (13, FlagKind.LATE)]
    assert found[1].detail == "15 min late"


def test_a_night_shift_has_rounds_across_midnight():
    assert round_at(NIGHT, local(25, 23, 30)) == Round(local(25, 22), local(26, 0))
    # After midnight the window opened yesterday evening.
    assert round_at(NIGHT, local(26, 1, 15)) == Round(local(26, 0), local(26, 2))
    assert round_at(NIGHT, local(26, 5, 59)) == Round(local(26, 4), local(26, 6))


def test_a_run_may_start_within_the_tolerance_before_a_round_but_not_outside_the_window():
    assert round_at(NIGHT, local(25, 21, 52)) == Round(local(25, 22), local(26, 0))
    assert round_at(NIGHT, local(25, 21, 40)) is None
    assert round_at(NIGHT, local(26, 6, 0)) is None
    assert round_at(NIGHT, local(26, 12, 0)) is None


def test_one_round_covers_a_window_without_an_interval():
    once = Shift(starts=22 * 60, ends=6 * 60, every=0, tolerance=10)
    assert round_at(once, local(26, 3)) == Round(local(25, 22), local(26, 6))


def test_instants_in_another_zone_find_the_same_round():
    utc = local(26, 1, 15).astimezone(dt.UTC)
    assert round_at(NIGHT, utc) == Round(local(26, 0), local(26, 2))


def test_times_of_day():
    assert minutes_of("22:00") == 1320 and minutes_of("00:05") == 5
    assert minutes_of("24:00") is None and minutes_of("7:60") is None and minutes_of("ab:cd") is None
