import datetime as dt
import re

import pytest

from backend.registry.codes import InvalidCode
from backend.registry.idnumber import (
    InvalidIdNumber,
    ResidentId,
    check_digit,
    parse_resident_id,
    validate_id,
)
from roles.masking import mask_id as mask

TODAY = dt.date(2024, 6, 1)


def reference_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 written from its definition, independent of the module.

    Position i counted from the right (check char at i=1) has weight
    2**(i-1) mod 11; the check value is (12 - sum mod 11) mod 11.
    """
    total = sum(int(d) * pow(2, 17 - k, 11) for k, d in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def test_textbook_example_by_hand():
    # 1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2  x  7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
    # = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2 -> "X"
    assert check_digit("11010519491231002") == "X"
    assert reference_check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    "first17",
    ["11010519491231002", "42010219900307123", "42011119850615002", "44030420000229561",
     "42282720101010003", "00000000000000000", "99999999999999999", "12345678901234567"],
)  # fmt: skip
def test_check_digit_matches_reference(first17):
    assert check_digit(first17) == reference_check_char(first17)


def test_check_digit_covers_every_remainder():
    seen = {check_digit(f"4201021990030{i:04d}") for i in range(200)}
    assert seen == set("0123456789X")


@pytest.mark.parametrize("bad", ["1101051949123100", "110105194912310021", "1101051949123100X", ""])
def test_check_digit_rejects_non_17_digits(bad):
    with pytest.raises(InvalidIdNumber, match="expected 17 digits"):
        check_digit(bad)


VALID = [
    # number, region, birth date, sequence, gender code
    ("11010519491231002X", "110105", dt.date(1949, 12, 31), "002", "2"),
    ("420102199003071232", "420102", dt.date(1990, 3, 7), "123", "1"),
    ("420111198506150022", "420111", dt.date(1985, 6, 15), "002", "2"),
    ("440304200002295616", "440304", dt.date(2000, 2, 29), "561", "1"),
    ("422827201010100035", "422827", dt.date(2010, 10, 10), "003", "1"),
]


@pytest.mark.parametrize(("number", "region", "born", "sequence", "gender"), VALID)
def test_parse_valid(number, region, born, sequence, gender):
    assert number[17] == reference_check_char(number[:17])
    parsed = parse_resident_id(number, today=TODAY)
    assert parsed == ResidentId(
        number=number,
        region=region,
        birth_date=born,
        sequence=sequence,
        gender_code=gender,
    )


def test_parse_normalises_lower_case_x_and_whitespace():
    assert parse_resident_id(" 11010519491231002x\n").number == "11010519491231002X"


def test_born_today_is_accepted():
    assert parse_resident_id("420102202406010017", today=TODAY).birth_date == TODAY
    assert check_digit("42010220240601001") == "7"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("11010519491231002", "must be 18 characters, got 17"),
        ("11010519491231002X1", "must be 18 characters, got 19"),
        ("", "must be 18 characters, got 0"),
        ("X10105194912310021", "17 digits followed by a digit or 'X'"),
        ("1101051949123100XX", "17 digits followed by a digit or 'X'"),
        ("11010519491231002Y", "17 digits followed by a digit or 'X'"),
        ("１１０１０５１９４９１２３１００２X", "17 digits followed by a digit or 'X'"),
        ("110105-19491231002", "17 digits followed by a digit or 'X'"),
        # Each of the following carries a correct check digit, so only the
        # named defect can be what fails.
        ("990101199001010019", "region code '990101' has unknown province '99'"),
        ("000000199001010018", "region code '000000' has unknown province '00'"),
        ("420012199001010011", "region code '420012' is not plausible"),
        ("420102199002300013", "impossible birth date '19900230'"),
        ("420102199013010011", "impossible birth date '19901301'"),
        ("42010217991231001X", "impossible birth date '17991231'"),
        ("110101209912310015", "birth date 2099-12-31 is in the future"),
        ("420102202406020012", "birth date 2024-06-02 is in the future"),
        ("110105194912310021", "check digit should be 'X', not '1'"),
        ("420102199003071234", "check digit should be '2', not '4'"),
    ],
)
def test_parse_rejects(number, message):
    if re.fullmatch(r"[0-9]{17}[0-9X]", number):
        valid_check = reference_check_char(number[:17]) == number[17]
        assert valid_check == (not message.startswith("check digit"))
    with pytest.raises(InvalidIdNumber) as excinfo:
        parse_resident_id(number, today=TODAY)
    assert message in str(excinfo.value)


def test_parse_rejects_non_string():
    with pytest.raises(InvalidIdNumber, match="must be a string, got int"):
        parse_resident_id(420102199003071232)


def test_invalid_id_number_is_a_value_error():
    with pytest.raises(ValueError):
        parse_resident_id("1")


@pytest.mark.parametrize("id_type", ["111", "112"])
def test_validate_id_resident(id_type):
    assert validate_id(id_type, "11010519491231002x") == "11010519491231002X"
    with pytest.raises(InvalidIdNumber, match="check digit should be 'X'"):
        validate_id(id_type, "110105194912310021")


@pytest.mark.parametrize(
    ("id_type", "number", "expected"),
    [
        ("414", "E12345678", "E12345678"),
        ("414", " g1234567 ", "G1234567"),
        ("516", "H10293847", "H10293847"),
        ("511", "12345678", "12345678"),
        ("553", "USA110090101001", "USA110090101001"),
        ("123", "A-123", "A-123"),
        ("990", "x1y", "X1Y"),
        ("990", "A" * 30, "A" * 30),
    ],
)
def test_validate_id_other_types(id_type, number, expected):
    assert validate_id(id_type, number) == expected


@pytest.mark.parametrize(
    "number",
    ["E1", "A" * 31, "E1234 5678", "E12345678!", "护照123", "---", "", "Ｅ12345678"],
)
def test_validate_id_other_types_rejects(number):
    with pytest.raises(InvalidIdNumber, match="^普通护照 number must be 3-30 ASCII letters"):
        validate_id("414", number)


def test_validate_id_passport_is_not_checked_as_resident_id():
    assert validate_id("414", "110105194912310021") == "110105194912310021"


@pytest.mark.parametrize("id_type", ["000", "11", "1111", "", "身份证"])
def test_validate_id_unknown_type(id_type):
    with pytest.raises(InvalidCode, match=f"^ZJLX: '{id_type}' is not a code of 常用证件类型"):
        validate_id(id_type, "11010519491231002X")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("11010519491231002X", "110***********002X"),
        ("420102199003071232", "420***********1232"),
        ("USA110090101001", "USA********1001"),
        ("12345678901", "123****8901"),
        ("1234567890", "********90"),
        ("E12345678", "*******78"),
        ("ABC", "*BC"),
        ("AB", "**"),
        ("", ""),
    ],
)
def test_mask(number, masked):
    assert mask(number) == masked
    assert len(mask(number)) == len(number)
