"""The dictionaries the data standard references: every one available, bundled or local, and the
shapes of the tables added for 一标三实 (HYZK, WHCD, ZYLB, ZZCS, YWLX) and the local ZRQ / XZJD."""

import json

import pytest

from backend.registry import codes
from backend.registry.codes import (
    ALL_TABLE_NAMES,
    LOCAL_TABLE_NAMES,
    InvalidCode,
    LocalCodesError,
    install_local,
    load_local,
    table,
    validate,
)
from backend.uplink import standard


@pytest.fixture(autouse=True)
def _default_local_codes():
    install_local()
    yield
    install_local()


def _referenced() -> set[str]:
    return {f.dictionary for t in standard.tables().values() for f in t.fields if f.dictionary}


def test_every_dictionary_the_standard_references_is_available():
    referenced = _referenced()
    assert referenced >= {"ZYLB", "ZZCS", "WHCD", "YWLX", "ZRQ", "HYZK", "XZJD"}
    assert referenced <= set(ALL_TABLE_NAMES)
    for name in referenced:
        assert table(name).codes, name


def test_no_field_of_any_table_reports_a_missing_dictionary():
    for key, spec in standard.tables().items():
        for field in spec.fields:
            if field.dictionary:
                problems = standard.check(key, {field.name: "\u0000"})
                reasons = {p.reason for p in problems if p.field == field.name}
                assert "dictionary_missing" not in reasons, (key, field.name)


def test_every_code_fits_the_fields_that_use_its_dictionary():
    for spec in standard.tables().values():
        for field in spec.fields:
            if field.dictionary and field.length:
                for code in table(field.dictionary).codes:
                    assert len(code.encode()) <= field.length, (spec.key, field.name, code)


def test_hyzk_is_gbt_2261_2():
    assert table("HYZK").codes == {
        "10": "未婚", "20": "已婚", "21": "初婚", "22": "再婚", "23": "复婚",
        "30": "丧偶", "40": "离婚", "90": "未说明的婚姻状况",
    }  # fmt: skip
    assert table("HYZK").standard == "GB/T 2261.2-2003"


def test_whcd_is_gbt_4658():
    whcd = table("WHCD")
    assert whcd.standard == "GB/T 4658-2006"
    assert len(whcd.codes) == 40
    assert whcd.label("21") == "大学本科毕业"
    assert whcd.label("71") == "初中毕业"
    assert whcd.label("90") == "其他"
    assert "72" not in whcd and "82" not in whcd  # no 结业 for 初中 / 小学 in the standard
    assert all(f"{code[0]}0" in whcd.codes for code in whcd.codes if code != "28")


def test_zylb_is_the_three_character_middle_level():
    zylb = table("ZYLB")
    assert zylb.standard.startswith("GB/T 6565")
    assert "中类" in zylb.note and "VARCHAR2(3)" in zylb.note
    assert all(len(code) == 3 for code in zylb.codes)
    assert {code[0] for code in zylb.codes} == set("123456XY")
    assert zylb.label("205") == "卫生专业技术人员"
    assert zylb.label("X00") == "军人"
    for bad in ("2", "2-05", "20501", "700"):
        with pytest.raises(InvalidCode):
            validate("ZYLB", bad)


def test_zzcs_and_ywlx_say_their_codes_are_the_platforms():
    for name in ("ZZCS", "YWLX"):
        assert "does not publish" in table(name).note
        assert all(len(code) == 2 for code in table(name).codes)
    assert codes.code_for("YWLX", "register") == "01"
    assert codes.code_for("YWLX", "deregister") == "03"


def test_demo_district_supplies_streets_and_responsibility_areas():
    local = load_local()
    assert set(local.districts) == {"420112"}
    assert local.of_district("XZJD", "420112") == {"001": "吴家山街道", "010": "金银湖街道"}
    assert all(len(code) == 12 and code.startswith("420112") for code in local.of_district("ZRQ", "420112"))
    assert local.of_district("ZRQ", "420106") == {}
    assert validate("XZJD", "010") == "010"
    assert validate("ZRQ", "420112010001") == "420112010001"
    with pytest.raises(InvalidCode, match=r"^ZRQ: '420112999001' is not a code of 所属责任区"):
        validate("ZRQ", "420112999001")


def _district(tmp_path, code="420106", **over):
    body = {
        "district": code,
        "name": "武昌区",
        "source": "test",
        "XZJD": {"002": "中华路街道"},
        "ZRQ": {"420106002001": "中华路派出所第一责任区"},
        **over,
    }
    (tmp_path / f"{code}.json").write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")


def test_a_deployment_supplies_its_own_districts(tmp_path):
    _district(tmp_path)
    install_local(tmp_path)
    assert validate("XZJD", "002") == "002"
    assert "010" not in table("XZJD")  # the demo district is not this deployment's
    problems = standard.check("ybss", {"XZJDDM": "002", "SSZRQDM": "420106002001"})
    assert not [p for p in problems if p.field in ("XZJDDM", "SSZRQDM")]
    problems = standard.check("ybss", {"XZJDDM": "010"})
    assert [p.reason for p in problems if p.field == "XZJDDM"] == ["not_a_code"]


@pytest.mark.parametrize(
    "over",
    [
        {"XZJD": {"0021": "too long"}},
        {"XZJD": {"0a2": "not digits"}},
        {"ZRQ": {"4201060020": "short"}},
        {"ZRQ": {"420106002001": ""}},
        {"district": "420199x"},
        {"extra": 1},
    ],
)
def test_malformed_district_files_are_refused_with_their_name(tmp_path, over):
    code = over.get("district", "420106")
    _district(tmp_path, code if code.isdigit() else "420106", **over)
    with pytest.raises(LocalCodesError, match=r"420106\.json|420199x"):
        load_local(tmp_path)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(LocalCodesError, match="does not exist"):
        load_local(tmp_path / "nope")


def test_local_tables_are_not_bundled_files():
    assert set(LOCAL_TABLE_NAMES).isdisjoint(codes.TABLE_NAMES)
