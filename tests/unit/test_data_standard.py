"""The data standard's tables as shipped, and the check that a record fits one exactly."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from backend.uplink import standard

SPEC = Path(__file__).resolve().parents[2] / "backend" / "uplink" / "data_standard.json"
WUHAN = dt.timezone(dt.timedelta(hours=8))


def reasons(table: str, record: dict) -> dict[str, str]:
    return {problem.field: problem.reason for problem in standard.check(table, record)}


def test_every_table_and_field_of_the_published_standard_is_loaded():
    published = json.loads(SPEC.read_text())["tables"]
    loaded = standard.tables()
    assert list(loaded) == [table["key"] for table in published]
    for table in published:
        fields = loaded[table["key"]].fields
        assert [(f.no, f.field, f.type, f.required) for f in fields] == [
            (f["no"], f["field"], f["type"], f["required"]) for f in table["fields"]
        ]
    assert sum(len(t.fields) for t in loaded.values()) == 347
    assert sum(f.required for t in loaded.values() for f in t.fields) == 157


def test_a_repeated_field_name_keeps_both_meanings():
    fire = standard.tables()["fire_energy"]
    assert (fire.field("BJ_JD").meaning, fire.field("BJ_JD_2").meaning) == ("报警角度", "背景角度")
    building = standard.tables()["building"]
    assert (building.field("SDM").meaning, building.field("SDM_2").meaning) == ("省代码", "市代码")
    for table in standard.tables().values():
        names = [field.name for field in table.fields]
        assert len(names) == len(set(names)), table.key


def test_an_empty_record_lacks_exactly_the_required_fields():
    table = standard.tables()["emergency_alarm"]
    assert set(reasons("emergency_alarm", {})) == {f.name for f in table.fields if f.required}
    assert set(reasons("emergency_alarm", {})) == {f.name for f in table.fields}  # all 14 are required
    assert reasons("perimeter_alarm", {"ID": "", "BJSJ": None}) == {
        f.name: "missing" for f in standard.tables()["perimeter_alarm"].fields if f.required
    }


def test_a_field_the_table_does_not_have_is_refused():
    assert reasons("notice_publish", {"NOT_A_FIELD": "x"})["NOT_A_FIELD"] == "unknown_field"


def test_text_is_measured_in_bytes_of_utf8():
    # door_access.XM is VARCHAR2(50): 16 Chinese characters are 48 bytes, 17 are 51.
    assert "XM" not in reasons("door_access", {"XM": "张" * 16})
    assert reasons("door_access", {"XM": "张" * 17})["XM"] == "too_long"
    assert reasons("door_access", {"XM": 12})["XM"] == "not_text"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (114.305569, None),
        (Decimal("-30.5"), None),
        (0, None),
        (114.3055691, "too_many_digits"),  # seven decimals in NUMBER(10,6)
        (11430.5, "too_many_digits"),  # five integer digits in NUMBER(10,6)
        ("114.3", "not_a_number"),
        (True, "not_a_number"),
        (float("nan"), "not_a_number"),
    ],
)
def test_numbers_with_a_precision_and_scale(value, reason):
    assert reasons("door_access", {"DQJD": value}).get("DQJD") == reason


@pytest.mark.parametrize(
    ("value", "reason"), [(999, None), (1000, "too_many_digits"), (1.5, "not_an_integer"), (-12, None)]
)
def test_integers_of_at_most_n_digits(value, reason):
    assert reasons("building", {"DM_CS": value}).get("DM_CS") == reason  # NUMBER(3)


def test_an_unconstrained_number_takes_up_to_38_digits():
    assert "GYMC_FZ" not in reasons("perimeter_alarm", {"GYMC_FZ": 10**37})
    assert reasons("perimeter_alarm", {"GYMC_FZ": 10**38})["GYMC_FZ"] == "too_many_digits"


def test_dates_are_points_in_time():
    assert "BJSJ" not in reasons("perimeter_alarm", {"BJSJ": dt.datetime(2026, 11, 26, 9, tzinfo=WUHAN)})
    assert reasons("perimeter_alarm", {"BJSJ": dt.datetime(2026, 11, 26, 9)})["BJSJ"] == "not_a_date"
    assert reasons("perimeter_alarm", {"BJSJ": "2026-11-26 09:00:00"})["BJSJ"] == "not_a_date"


def test_dictionary_fields_take_codes_not_our_names():
    assert "XBDM" not in reasons("resident_checkin", {"XBDM": "2"})
    assert reasons("resident_checkin", {"XBDM": "F"})["XBDM"] == "not_a_code"
    assert "SK_FSDM" not in reasons("door_access", {"SK_FSDM": next(iter(_codes("KMFSDM")))})
    assert reasons("door_access", {"SK_FSDM": "qr"})["SK_FSDM"] in {"not_a_code", "too_long"}


def _codes(name: str) -> dict[str, str]:
    from backend.registry import codes

    return codes.table(name).codes
