"""Chinese licence plates (GA 36): which numbers are plates, and the 号牌种类 (HPZL) each shape implies.

A plate is a province's abbreviation, the issuing office's letter, then five characters (no I or
O); a new-energy plate has six: D/F then five (small cars), or five digits then D/F (large
vehicles). Special plates end in 警 (police), 学 (driving school), 挂 (trailer), 港/澳 (cross-border).
"""

from __future__ import annotations

import re
from enum import StrEnum

from backend.errors import DomainError

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
SERIAL = "[A-HJ-NP-Z0-9]"  # plates never use I or O (read as 1 and 0)
# What people type between the characters: 鄂A·12345, 鄂A 12345, 鄂A-12345.
SEPARATORS = str.maketrans("", "", " ·•.-")


class Shape(StrEnum):
    ORDINARY = "ordinary"
    NEW_ENERGY_SMALL = "new_energy_small"
    NEW_ENERGY_LARGE = "new_energy_large"
    POLICE = "police"
    COACH = "coach"
    TRAILER = "trailer"
    HONG_KONG = "hong_kong"
    MACAO = "macao"


# The part after province and office letter, per shape.
SHAPES: dict[Shape, re.Pattern[str]] = {
    Shape.ORDINARY: re.compile(f"{SERIAL}{{5}}"),
    Shape.NEW_ENERGY_SMALL: re.compile(f"[DF]{SERIAL}[0-9]{{4}}"),
    Shape.NEW_ENERGY_LARGE: re.compile("[0-9]{5}[DF]"),
    Shape.POLICE: re.compile(f"{SERIAL}{{4}}警"),
    Shape.COACH: re.compile(f"{SERIAL}{{4}}学"),
    Shape.TRAILER: re.compile(f"{SERIAL}{{4}}挂"),
    Shape.HONG_KONG: re.compile(f"{SERIAL}{{4}}港"),
    Shape.MACAO: re.compile(f"{SERIAL}{{4}}澳"),
}
# HPZL codes a special shape must carry (and only it may carry); an ordinary plate takes any other.
KINDS: dict[Shape, frozenset[str]] = {
    Shape.NEW_ENERGY_SMALL: frozenset({"52"}),
    Shape.NEW_ENERGY_LARGE: frozenset({"51"}),
    Shape.POLICE: frozenset({"23", "24"}),
    Shape.COACH: frozenset({"16", "17"}),
    Shape.TRAILER: frozenset({"15"}),
    Shape.HONG_KONG: frozenset({"26"}),
    Shape.MACAO: frozenset({"27"}),
}
RESERVED = frozenset().union(*KINDS.values())
# The kind a passage records for a plate no registration names (JDCHPZLDM is required).
DEFAULT_KIND = {Shape.ORDINARY: "02", **{shape: min(codes) for shape, codes in KINDS.items()}}
UNKNOWN_KIND = "99"  # 其他号牌: a read no shape matches


class InvalidPlate(DomainError):
    status = 400


def normalised(value: str) -> str:
    return value.strip().upper().translate(SEPARATORS)


def problem(plate: str) -> str | None:
    """Why ``plate`` (normalised) is not a Chinese licence plate, or None when it is one."""
    if len(plate) not in (7, 8):
        return f"a plate has 7 characters (8 for new-energy vehicles), not {len(plate)}"
    if plate[0] not in PROVINCES:
        return f"{plate[0]!r} is not a province's abbreviation"
    if not re.fullmatch("[A-HJ-NP-Z]", plate[1]):
        return f"{plate[1]!r} is not an issuing office's letter (A-Z without I and O)"
    if shape_of(plate) is None:
        return "the last characters match no plate format (e.g. 鄂A12345, 鄂AD12345, 鄂A12345D, 鄂A1234警)"
    return None


def shape_of(plate: str) -> Shape | None:
    if len(plate) < 3 or plate[0] not in PROVINCES or not re.fullmatch("[A-HJ-NP-Z]", plate[1]):
        return None
    return next((shape for shape, rest in SHAPES.items() if rest.fullmatch(plate[2:])), None)


def clean(value: str) -> str:
    """The plate as stored and matched (upper case, no separators); :class:`InvalidPlate` otherwise."""
    plate = normalised(value)
    if (reason := problem(plate)) is not None:
        raise InvalidPlate("invalid_plate", f"Not a Chinese licence plate: {reason}", field="plate")
    return plate


def check_kind(plate: str, hpzl: str) -> None:
    """A new-energy or special plate carries its own 号牌种类, and no other plate carries those."""
    shape = shape_of(plate)
    wanted = KINDS.get(shape) if shape else None
    if wanted is not None and hpzl not in wanted:
        raise InvalidPlate(
            "plate_kind_mismatch",
            f"A {shape} plate has 号牌种类 {', '.join(sorted(wanted))}, not {hpzl}",
            field="hpzl",
        )
    if wanted is None and hpzl in RESERVED:
        raise InvalidPlate(
            "plate_kind_mismatch", f"号牌种类 {hpzl} belongs to another plate format", field="hpzl"
        )


def kind_of(plate: str) -> str:
    """The 号牌种类 a plate's shape implies, for a plate no registration names."""
    shape = shape_of(plate)
    return DEFAULT_KIND[shape] if shape else UNKNOWN_KIND
