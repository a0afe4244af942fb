"""Chinese licence plates: the formats accepted, the reasons for refusing others, the 号牌种类 they imply."""

import pytest

from backend.registry.codes import table
from backend.vehicles import plates
from backend.vehicles.plates import InvalidPlate


@pytest.mark.parametrize(
    ("value", "plate", "kind"),
    [
        ("鄂A12345", "鄂A12345", "02"),
        ("鄂a·12345", "鄂A12345", "02"),  # what people type: lower case, the middle dot, spaces
        ("鄂A 1B2C3", "鄂A1B2C3", "02"),
        ("鄂AD12345", "鄂AD12345", "52"),  # small new-energy: D/F, then a letter or digit, then 4 digits
        ("鄂AFA1234", "鄂AFA1234", "52"),
        ("鄂A12345D", "鄂A12345D", "51"),  # large new-energy: 5 digits, then D/F
        ("京A1234警", "京A1234警", "23"),
        ("鄂A1234学", "鄂A1234学", "16"),
        ("鄂A1234挂", "鄂A1234挂", "15"),
        ("粤Z1234港", "粤Z1234港", "26"),
    ],
)
def test_good_plates(value, plate, kind):
    assert plates.clean(value) == plate
    assert plates.kind_of(plate) == kind and kind in table("HPZL")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("鄂A1234", "7 characters"),
        ("鄂A1234567", "not 9"),
        ("", "not 0"),
        ("X A12345", "province"),
        ("AA12345", "province"),
        ("鄂112345", "issuing office"),
        ("鄂I12345", "issuing office"),  # I and O are never used: they read as 1 and 0
        ("鄂AO2345", "no plate format"),
        ("鄂AD1234X", "no plate format"),  # new-energy: digits after D/F and one character
        ("鄂A12345X", "no plate format"),
        ("鄂A1234测", "no plate format"),
        ("鄂A12<b>", "no plate format"),
    ],
)
def test_bad_plates_are_400_with_a_reason(value, reason):
    with pytest.raises(InvalidPlate) as refused:
        plates.clean(value)
    assert refused.value.status == 400 and refused.value.code == "invalid_plate"
    assert reason in refused.value.message


@pytest.mark.parametrize(
    ("plate", "hpzl", "ok"),
    [
        ("鄂A12345", "02", True),
        ("鄂A12345", "01", True),
        ("鄂A12345", "52", False),  # a new-energy code on an ordinary plate
        ("鄂AD12345", "52", True),
        ("鄂AD12345", "02", False),
        ("鄂A12345D", "51", True),
        ("京A1234警", "23", True),
        ("京A1234警", "02", False),
        ("鄂A1234挂", "15", True),
    ],
)
def test_special_plates_carry_their_own_kind(plate, hpzl, ok):
    if ok:
        plates.check_kind(plate, hpzl)
    else:
        with pytest.raises(InvalidPlate, match="号牌种类"):
            plates.check_kind(plate, hpzl)


def test_hpzl_and_csys_are_the_ga_24_dictionaries():
    hpzl = table("HPZL")
    assert (hpzl.standard, hpzl.codes["01"], hpzl.codes["02"]) == ("GA 24.7-2005", "大型汽车", "小型汽车")
    assert (hpzl.codes["51"], hpzl.codes["52"]) == ("大型新能源汽车", "小型新能源汽车")
    assert set(plates.DEFAULT_KIND.values()) <= set(hpzl.codes)
    assert table("CSYS").codes["A"] == "白" and all(len(code) == 1 for code in table("CSYS").codes)
