"""Request and response shapes of the registry."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from backend.ids import Id
from backend.registry.enums import OrganisationKind, ResidenceCategory, ResidencyStatus

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Reason = Annotated[str, msgspec.Meta(max_length=200)]


class RegistrationIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    id_number: Annotated[str, msgspec.Meta(max_length=30)]
    phone: Annotated[str, msgspec.Meta(max_length=18)]
    residence_category: ResidenceCategory
    relation: str
    reason: str
    hukou_region: str
    hukou_address: Annotated[str, msgspec.Meta(max_length=100)] = ""
    id_type: str = "111"
    gender: str = ""  # derived from a resident ID number when empty
    ethnicity: str = "01"
    nationality: str = "CHN"
    birth_date: dt.date | None = None  # derived from a resident ID number when empty
    start_date: dt.date | None = None
    # 一标三实 fields, optional here (the verifier may fill them in): codes of the named dictionaries.
    occupation: str = ""  # ZYLB (GB/T 6565 中类, 3 characters)
    education: str = ""  # WHCD (GB/T 4658)
    marital_status: str = ""  # HYZK (GB/T 2261.2)
    native_place: str = ""  # 籍贯, XZQH
    service_place: str = ""  # 服务处所: where they work or study, at most 100 bytes
    lodging: str = ""  # 暂住处所 ZZCS: non-permanent residents only


class StandardFields(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The 一标三实 fields a verifier fills in or corrects on verification; absent: unchanged."""

    occupation: str | None = None
    education: str | None = None
    marital_status: str | None = None
    native_place: str | None = None
    service_place: str | None = None
    lodging: str | None = None


class ResidencyOut(msgspec.Struct):
    residency_id: int
    status: ResidencyStatus


class MyHome(msgspec.Struct):
    """A flat the signed-in resident lives in (verified) or asked to (pending)."""

    residency_id: int
    status: ResidencyStatus
    house_id: int
    community: str
    address: str
    since: dt.date
    plate: str | None  # the flat's live doorplate: its scan view is the household


class ResidentView(msgspec.Struct, omit_defaults=True):
    """A resident as some viewer may see them: absent fields are not theirs to see."""

    residency_id: int
    person_id: int
    name: str
    status: ResidencyStatus
    relation: str | msgspec.UnsetType = msgspec.UNSET
    residence_category: ResidenceCategory | msgspec.UnsetType = msgspec.UNSET
    gender: str | msgspec.UnsetType = msgspec.UNSET
    birth_date: dt.date | msgspec.UnsetType = msgspec.UNSET  # police only
    age_band: str | msgspec.UnsetType = msgspec.UNSET  # "30-39": for viewers of a masked ID number
    phone: str | msgspec.UnsetType = msgspec.UNSET
    id_number: str | msgspec.UnsetType = msgspec.UNSET
    key_person: bool | msgspec.UnsetType = msgspec.UNSET
    key_category: str | msgspec.UnsetType = msgspec.UNSET
    # 一标三实 fields (police only); "" when not collected
    occupation: str | msgspec.UnsetType = msgspec.UNSET
    education: str | msgspec.UnsetType = msgspec.UNSET
    marital_status: str | msgspec.UnsetType = msgspec.UNSET
    native_place: str | msgspec.UnsetType = msgspec.UNSET
    service_place: str | msgspec.UnsetType = msgspec.UNSET
    lodging: str | msgspec.UnsetType = msgspec.UNSET


class PastOrPresent(msgspec.Struct):
    """A residency of a flat, current or not, with its person as the viewer may see them."""

    resident: ResidentView
    start_date: dt.date
    end_date: dt.date | None


class KeyPerson(msgspec.Struct):
    """A flagged current resident and where they live."""

    resident: ResidentView
    house_id: int
    address: str


class CommunityRef(msgspec.Struct):
    id: int
    name: str


class SamePerson(msgspec.Struct, omit_defaults=True):
    """A known person with the same ID number, as far as the verifier may see them."""

    person_id: int
    name: str
    gender: str | msgspec.UnsetType = msgspec.UNSET
    birth_date: dt.date | msgspec.UnsetType = msgspec.UNSET
    age_band: str | msgspec.UnsetType = msgspec.UNSET
    id_number: str | msgspec.UnsetType = msgspec.UNSET
    residence_category: ResidenceCategory | msgspec.UnsetType = msgspec.UNSET


class QueueItem(msgspec.Struct):
    residency_id: int
    community: CommunityRef
    address: str
    registered_at: dt.datetime
    registered_by: str  # "self" or the registering account's name
    person: ResidentView
    proposed_category: ResidenceCategory | None  # the registrant's; the verifier confirms or changes it
    same_person_as: SamePerson | None  # merge into them on verification (merge_into), or reject
    already_registered_here: bool  # this document already lives (or waits) at this address


class VerifyIn(msgspec.Struct, forbid_unknown_fields=True):
    merge_into: Id | None = None  # the known person with the same ID number
    residence_category: ResidenceCategory | None = None  # confirmed; default: as proposed
    standard: StandardFields | None = None  # 一标三实 fields filled in or corrected on site


class CorrectionIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason
    residence_category: ResidenceCategory | None = None
    wrong_person: bool = False  # the account it was verified for is not this resident: unlink it


class HistoryEntry(msgspec.Struct):
    at: dt.datetime
    action: str  # register, verified, rejected, ended, correct
    by: str
    reason: str = ""
    changes: dict[str, Any] = {}


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason = ""


class KeyPersonIn(msgspec.Struct, forbid_unknown_fields=True):
    key_person: bool
    key_category: Annotated[str, msgspec.Meta(max_length=50)] = ""


class CommunityOut(msgspec.Struct):
    id: int
    name: str
    tier: str
    street: str
    police_station: str
    district_id: int


class Coverage(msgspec.Struct):
    gate: float
    building: float
    unit: float
    house: float
    overall: float


class Verified(msgspec.Struct):
    """Verified out of the total, for one kind of record."""

    verified: int
    total: int
    rate: float


class Metrics(msgspec.Struct):
    # 核实率 over people, houses and organisations together (verified records / records); the
    # top-level verified/total count all three. See service.verification_counts.
    verification_rate: float
    verified: int
    total: int
    doorplate_coverage: Coverage
    people: Verified
    houses: Verified
    organisations: Verified


class OrganisationIn(msgspec.Struct, forbid_unknown_fields=True):
    """实有单位 as property staff or police enter it (a PUT replaces every field)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    kind: OrganisationKind = OrganisationKind.ENTERPRISE
    credit_code: Annotated[str, msgspec.Meta(max_length=18)] = ""  # 统一社会信用代码 (GB 32100)
    address_id: Id | None = None  # its standard address in the community, if it has one
    place: Annotated[str, msgspec.Meta(max_length=100)] = ""  # default: the address's text
    contact_name: Annotated[str, msgspec.Meta(max_length=50)] = ""
    contact_phone: Annotated[str, msgspec.Meta(max_length=20)] = ""


class OrganisationOut(msgspec.Struct):
    id: int
    community_id: int
    name: str
    credit_code: str
    kind: OrganisationKind
    place: str
    address_id: int | None
    contact_name: str
    contact_phone: str  # masked for viewers who do not manage organisations
    status: ResidencyStatus  # pending (entered by the property) or verified (by the police)
    registered_at: dt.datetime


Floors = Annotated[int, msgspec.Meta(ge=0, le=999)]  # NUMBER(3)


class BuildingDetailsIn(msgspec.Struct, forbid_unknown_fields=True):
    """楼栋信息 details of a building (a PUT replaces them all)."""

    floors_above: Annotated[int, msgspec.Meta(ge=1, le=999)]
    floors_below: Floors = 0
    floors_below_lived_in: Floors = 0  # 地下层居住层数
    nature: Annotated[str, msgspec.Meta(max_length=100)] = "住宅"
    built_on: dt.date | None = None
    photo: Annotated[str, msgspec.Meta(max_length=400)] = ""  # a reference to the stored photo
    agent_name: Annotated[str, msgspec.Meta(max_length=50)] = ""  # 委托代理人
    agent_id_type: Annotated[str, msgspec.Meta(max_length=3)] = ""  # ZJLX
    agent_id_number: Annotated[str, msgspec.Meta(max_length=30)] = ""
    agent_phone: Annotated[str, msgspec.Meta(max_length=18)] = ""


class StandardField(msgspec.Struct):
    field: str  # the data standard's name, e.g. WTDLR_XM
    meaning: str  # its Chinese name, e.g. 委托代理人姓名


class BuildingSummary(msgspec.Struct):
    """A building in the community's list: what its 楼栋信息 rows still lack (from the first unit's
    row: every unit shares the building's fields)."""

    id: int
    name: str
    number: str
    units: int
    missing: list[StandardField]


class BuildingDetails(msgspec.Struct):
    id: int
    community_id: int
    name: str
    number: str
    nature: str
    floors_above: int
    floors_below: int
    floors_below_lived_in: int
    built_on: dt.date | None
    photo: str
    agent_name: str
    agent_id_type: str
    agent_id_number: str  # in full for the police, masked for others
    agent_phone: str
