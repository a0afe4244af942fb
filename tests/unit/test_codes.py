import json
from importlib.resources import files

import pytest

from backend.registry import codes
from backend.registry.codes import (
    TABLE_NAMES,
    CodeTable,
    InvalidCode,
    UnknownCode,
    UnknownTable,
    code_for,
    table,
    validate,
)
from device_bridge.protocol import AccessMethod

MZ_ORDER = (
    "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 "
    "土家族 哈尼族 哈萨克族 傣族 黎族 傈僳族 佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 "
    "景颇族 柯尔克孜族 土族 达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族 阿昌族 "
    "普米族 塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 "
    "独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族"
).split()

HUBEI_PREFECTURES = {
    "420100": "武汉市", "420200": "黄石市", "420300": "十堰市", "420500": "宜昌市",
    "420600": "襄阳市", "420700": "鄂州市", "420800": "荆门市", "420900": "孝感市",
    "421000": "荆州市", "421100": "黄冈市", "421200": "咸宁市", "421300": "随州市",
    "422800": "恩施土家族苗族自治州", "429004": "仙桃市", "429005": "潜江市",
    "429006": "天门市", "429021": "神农架林区",
}  # fmt: skip

WUHAN_DISTRICTS = {
    "420102": "江岸区", "420103": "江汉区", "420104": "硚口区", "420105": "汉阳区",
    "420106": "武昌区", "420107": "青山区", "420111": "洪山区", "420112": "东西湖区",
    "420113": "汉南区", "420114": "蔡甸区", "420115": "江夏区", "420116": "黄陂区",
    "420117": "新洲区",
}  # fmt: skip


def _data_dir():
    return files("backend.registry") / "codes"


def test_every_data_file_is_a_declared_table():
    on_disk = {p.name[:-5] for p in _data_dir().iterdir() if p.name.endswith(".json")}
    assert on_disk == set(TABLE_NAMES)


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_table_file_shape(name):
    raw = json.loads((_data_dir() / f"{name}.json").read_text(encoding="utf-8"))
    assert raw["name"] == name
    assert raw["title"] and raw["standard"]
    assert raw["codes"] and all(isinstance(v, str) and v for v in raw["codes"].values())
    loaded = table(name)
    assert isinstance(loaded, CodeTable)
    assert loaded.codes == raw["codes"]


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_codes_within_a_table_have_one_width(name):
    assert len({len(code) for code in table(name).codes}) == 1


def test_tables_are_loaded_once():
    assert table("MZ") is table("MZ")


def test_codes_module_is_not_shadowed_by_data_directory():
    assert codes.__file__.endswith("codes.py")


def test_unknown_table():
    with pytest.raises(UnknownTable, match=r"unknown code table 'ABC'; known tables: XB, MZ"):
        table("ABC")
    with pytest.raises(KeyError):
        validate("ABC", "1")


@pytest.mark.parametrize("index", range(1, 57))
def test_mz_code_order(index):
    assert table("MZ").label(f"{index:02d}") == MZ_ORDER[index - 1]


def test_mz_has_56_distinct_groups_plus_two_extras():
    mz = table("MZ").codes
    groups = {mz[f"{i:02d}"] for i in range(1, 57)}
    assert len(groups) == 56
    assert all(name.endswith("族") for name in groups)
    assert mz["97"] == "其他"
    assert mz["98"] == "外国血统中国籍人士"
    assert len(mz) == 58


@pytest.mark.parametrize(
    ("name", "code", "label"),
    [
        ("XB", "0", "未知的性别"),
        ("XB", "1", "男性"),
        ("XB", "2", "女性"),
        ("XB", "9", "未说明的性别"),
        ("ZJLX", "111", "居民身份证"),
        ("ZJLX", "112", "临时居民身份证"),
        ("ZJLX", "414", "普通护照"),
        ("ZJLX", "516", "港澳居民来往内地通行证"),
        ("ZJLX", "553", "外国人永久居留身份证"),
        ("ZJLX", "990", "其他"),
        ("GJ", "CHN", "中国"),
        ("GJ", "HKG", "中国香港"),
        ("GJ", "TWN", "中国台湾"),
        ("YZGX", "1", "本人/房主"),
        ("YZGX", "6", "租户"),
        ("ZZSY", "00", "户籍"),
        ("ZZSY", "01", "务工"),
        ("ZZSY", "13", "其他"),
        ("XZQH", "420000", "湖北省"),
        ("XZQH", "710000", "台湾省"),
        ("XZQH", "820000", "澳门特别行政区"),
    ],
)
def test_label(name, code, label):
    assert table(name).label(code) == label
    assert code in table(name)
    assert validate(name, code) == code


def test_xb_has_exactly_the_standard_codes():
    assert set(table("XB").codes) == {"0", "1", "2", "9"}


def test_yzgx_codes_are_one_character():
    assert list(table("YZGX").codes) == [str(i) for i in range(1, 10)]


def test_zzsy_codes_are_00_to_13():
    assert list(table("ZZSY").codes) == [f"{i:02d}" for i in range(14)]


def test_gj_is_a_documented_subset_of_alpha3_codes():
    gj = table("GJ")
    assert len(gj.codes) >= 60
    assert all(len(c) == 3 and c.isascii() and c.isupper() for c in gj.codes)
    assert "subset" in gj.note.lower()
    for code in ("USA", "JPN", "KOR", "PRK", "RUS", "DEU", "VNM", "ZAF", "BRA", "HUN"):
        assert code in gj


def test_zjlx_codes():
    assert set(table("ZJLX").codes) == {
        "111", "112", "113", "114", "123", "335", "414", "511", "516", "553", "990",
    }  # fmt: skip


def test_label_of_unknown_code():
    with pytest.raises(UnknownCode, match=r"^XB: '3' is not a code of 性别 \(GB/T 2261\.1-2003\)$"):
        table("XB").label("3")
    with pytest.raises(KeyError):
        table("XB").label("3")
    assert "3" not in table("XB")
    assert 1 not in table("XB")


@pytest.mark.parametrize(
    ("name", "code"),
    [("MZ", "99"), ("MZ", "1"), ("MZ", " 01"), ("XB", "男"), ("GJ", "chn"), ("ZJLX", "110"),
     ("ZZSY", "14"), ("YZGX", "0"), ("MZ", 1), ("MZ", None)],
)  # fmt: skip
def test_validate_rejects(name, code):
    with pytest.raises(InvalidCode) as excinfo:
        validate(name, code)
    assert str(excinfo.value).startswith(f"{name}: {code!r} is not a code of ")


def test_invalid_code_message_names_dictionary_and_value():
    with pytest.raises(ValueError, match=r"^MZ: '99' is not a code of 民族 \(GB/T 3304-1991\)$"):
        validate("MZ", "99")


def test_xzqh_has_all_34_provinces():
    provinces = [c for c in table("XZQH").codes if c.endswith("0000")]
    assert len(provinces) == 34
    assert {
        "110000",
        "420000",
        "500000",
        "650000",
        "710000",
        "810000",
        "820000",
    } <= set(provinces)


def test_xzqh_has_hubei_prefectures_and_wuhan_districts():
    xzqh = table("XZQH").codes
    for code, name in {**HUBEI_PREFECTURES, **WUHAN_DISTRICTS}.items():
        assert xzqh[code] == name


def test_every_listed_region_belongs_to_a_listed_province():
    xzqh = table("XZQH")
    assert all(f"{code[:2]}0000" in xzqh for code in xzqh.codes)
    assert "subset" in xzqh.note.lower()


@pytest.mark.parametrize("code", ["420102", "420117", "429021", "110101", "440300", "500000"])
def test_xzqh_listed(code):
    assert code in table("XZQH")
    assert validate("XZQH", code) == code


@pytest.mark.parametrize("code", ["422801", "110105", "420118", "429001", "500101", "810101"])
def test_xzqh_unlisted_accepted_by_province(code):
    assert code not in table("XZQH")
    assert validate("XZQH", code) == code


@pytest.mark.parametrize(
    "code",
    [
        "990101",
        "000000",
        "190000",
        "680101",
        "420012",
        "4201",
        "4201021",
        "42010A",
        "４２０１０２",
        "",
    ],
)
def test_xzqh_rejected(code):
    with pytest.raises(InvalidCode, match=r"^XZQH: .* is not a code of 行政区划"):
        validate("XZQH", code)


def test_every_access_method_has_its_kmfsdm_code():
    """SK_FSDM is two characters from KMFSDM; every way in the bridge knows maps onto one."""
    kmfsdm = table("KMFSDM")
    assert {code_for("KMFSDM", method) for method in AccessMethod} <= set(kmfsdm.codes)
    assert set(kmfsdm.ours) == set(AccessMethod)
    assert code_for("KMFSDM", "telepathy") == ""
