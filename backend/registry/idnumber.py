"""Identity-document numbers: GB 11643-1999 居民身份证号码 and the other 证件类型.

An 18-character resident ID number is laid out as::

    RRRRRR YYYYMMDD SSS C
    region birth    seq check

where the 17th character's parity gives the sex and C is the ISO 7064
MOD 11-2 check character ("X" stands for 10).
"""

from __future__ import annotations

import datetime as dt
import re

import msgspec

from backend.registry import codes

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")
_OTHER_ID = re.compile(r"(?=.*[A-Z0-9])[A-Z0-9-]{3,30}")
# Anything earlier is a keying error, not a person alive when ID cards existed.
_EARLIEST_BIRTH = dt.date(1800, 1, 1)
RESIDENT_ID_TYPES = frozenset({"111", "112"})


class InvalidIdNumber(ValueError):
    """An identity-document number fails validation; the message says why."""


class ResidentId(msgspec.Struct, frozen=True):
    number: str
    region: str
    birth_date: dt.date
    sequence: str
    gender_code: str  # XB code: "1" 男性, "2" 女性


def check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of a resident ID."""
    if not re.fullmatch(r"[0-9]{17}", first17):
        raise InvalidIdNumber(f"expected 17 digits, got {first17!r}")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def parse_resident_id(number: str, *, today: dt.date | None = None) -> ResidentId:
    """Validate and decompose an 18-character resident ID number.

    Leading/trailing whitespace is ignored and a lower-case "x" accepted;
    the returned ``number`` is normalised. ``today`` exists for tests.
    """
    normalised = _normalise(number)
    if len(normalised) != 18:
        raise InvalidIdNumber(f"resident ID number must be 18 characters, got {len(normalised)}")
    if not _RESIDENT_ID.fullmatch(normalised):
        raise InvalidIdNumber("resident ID number must be 17 digits followed by a digit or 'X'")
    region = _check_region(normalised[:6])
    birth_date = _check_birth_date(normalised[6:14], today or dt.date.today())
    expected = check_digit(normalised[:17])
    if normalised[17] != expected:
        raise InvalidIdNumber(f"check digit should be {expected!r}, not {normalised[17]!r}")
    return ResidentId(
        number=normalised,
        region=region,
        birth_date=birth_date,
        sequence=normalised[14:17],
        gender_code="1" if int(normalised[16]) % 2 else "2",
    )


def validate_id(id_type: str, number: str) -> str:
    """Validate ``number`` as a document of ZJLX type ``id_type``; return it normalised.

    Raises InvalidCode for an unknown ``id_type`` (so a form can blame the
    type field) and InvalidIdNumber for a bad number.
    """
    codes.validate("ZJLX", id_type)
    if id_type in RESIDENT_ID_TYPES:
        return parse_resident_id(number).number
    normalised = _normalise(number)
    if not _OTHER_ID.fullmatch(normalised):
        label = codes.table("ZJLX").label(id_type)
        raise InvalidIdNumber(f"{label} number must be 3-30 ASCII letters, digits or hyphens")
    return normalised


def _normalise(number: str) -> str:
    if not isinstance(number, str):
        raise InvalidIdNumber(f"ID number must be a string, got {type(number).__name__}")
    return number.strip().upper()


def _check_region(region: str) -> str:
    try:
        return codes.validate("XZQH", region)
    except codes.InvalidCode:
        if f"{region[:2]}0000" not in codes.table("XZQH"):
            raise InvalidIdNumber(f"region code {region!r} has unknown province {region[:2]!r}") from None
        raise InvalidIdNumber(f"region code {region!r} is not plausible") from None


def _check_birth_date(digits: str, today: dt.date) -> dt.date:
    try:
        born = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InvalidIdNumber(f"impossible birth date {digits!r}") from None
    if born < _EARLIEST_BIRTH:
        raise InvalidIdNumber(f"impossible birth date {digits!r}")
    if born > today:
        raise InvalidIdNumber(f"birth date {born.isoformat()} is in the future")
    return born
