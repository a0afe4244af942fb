"""Pure parts of the analysis rules: the night hours, in Wuhan time."""

from __future__ import annotations

import datetime as dt

import pytest

from backend.analytics.rules import LOCAL, at_night

UTC = dt.UTC


@pytest.mark.parametrize(
    "local_hour, hours, night",
    [
        (0, (0, 5), True),
        (4, (0, 5), True),
        (5, (0, 5), False),  # the end hour is excluded
        (23, (0, 5), False),
        (23, (23, 5), True),  # a range over midnight wraps
        (2, (23, 5), True),
        (12, (23, 5), False),
    ],
)
def test_night_hours_are_wuhan_wall_clock_hours(local_hour, hours, night):
    at = dt.datetime(2026, 11, 26, local_hour, 30, tzinfo=LOCAL).astimezone(UTC)
    assert at_night(at, hours) is night
