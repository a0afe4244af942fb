"""Registry vocabularies shared by tables and services.

ResidenceCategory lives in roles/ (which imports nothing from backend/) and is
re-exported here, so the registry and the rules share one definition.
"""

from enum import StrEnum

from roles.categories import ResidenceCategory

__all__ = ["HouseUse", "OrganisationKind", "PlaceKind", "ResidenceCategory", "ResidencyStatus", "Tier"]


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


class OrganisationKind(StrEnum):
    """实有单位类型."""

    ENTERPRISE = "enterprise"  # 企业
    INDIVIDUAL = "individual"  # 个体工商户
    GOVERNMENT = "government"  # 机关
    INSTITUTION = "institution"  # 事业单位 (schools, clinics)
    SOCIAL = "social"  # 社会组织
    PROPERTY = "property"  # 物业服务企业
    OTHER = "other"
