"""Registry vocabularies shared by tables, services and roles/."""

from enum import StrEnum


class ResidenceCategory(StrEnum):
    PERMANENT = "permanent"  # 常住
    LODGER = "lodger"  # 寄住
    FLOATING = "floating"  # 流动


class ResidencyStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    ENDED = "ended"


class PlaceKind(StrEnum):
    GATE = "gate"
    BUILDING = "building"
    UNIT = "unit"
    HOUSE = "house"


class Tier(StrEnum):
    DEMONSTRATION = "demonstration"  # 示范
    STANDARD = "standard"  # 标准


class HouseUse(StrEnum):
    SELF_OCCUPIED = "self_occupied"  # 自住
    RENTED = "rented"  # 租住
    VACANT = "vacant"  # 空置
    UNKNOWN = "unknown"
