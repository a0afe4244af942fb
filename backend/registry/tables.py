"""一标三实: standard addresses, places, people, residencies, owners."""

from piccolo.columns import (
    Boolean,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.registry.enums import (
    HouseUse,
    OrganisationKind,
    PlaceKind,
    ResidenceCategory,
    ResidencyStatus,
    Tier,
)


class District(Table):
    code = Varchar(length=6, unique=True)  # XZQH
    name = Varchar(length=100)


class Community(Table):
    district = ForeignKey(District, null=False, index=True)
    code = Varchar(length=40, unique=True)  # 小区编码 XQ_BM
    name = Varchar(length=100)
    tier = Varchar(length=20, choices=Tier, default=Tier.STANDARD)
    street = Varchar(length=100)  # 乡镇(街道)名称
    police_station = Varchar(length=100)  # 所属派出所名称
    # Local dictionaries the district supplies (ANJU_LOCAL_CODES_DIR): the street's XZJD code and the
    # police responsibility area (责任区, ZRQ) the community lies in. A person's 所属责任区 is their
    # community's: in Wuhan a 社区民警's area is made of whole communities.
    street_code = Varchar(length=3, default="")  # XZJD
    responsibility_area = Varchar(length=12, default="")  # ZRQ
    road = Varchar(length=40, default="")  # 街路巷名称 JLXMC of its buildings
    committee = Varchar(length=100, default="")  # 社区居委会 (村社区) it belongs to: CSQ_MC, SQJCWHMC
    address = Varchar(length=200)
    latitude = DoublePrecision()
    longitude = DoublePrecision()


class Address(Table):
    """A standard address (标准地址): the thing a doorplate is fixed to."""

    community = ForeignKey(Community, null=False, index=True)
    kind = Varchar(length=10, choices=PlaceKind)
    code = Varchar(length=32, unique=True)  # 标准地址代码 BZDZDM
    text = Varchar(length=200)


class Gate(Table):
    community = ForeignKey(Community, null=False, index=True)
    address = ForeignKey(Address, null=False, unique=True)
    name = Varchar(length=100)
    # Where the community's map (the management centre's board) draws it, in the map's own units.
    map_x = DoublePrecision(null=True, default=None)
    map_y = DoublePrecision(null=True, default=None)


class Building(Table):
    community = ForeignKey(Community, null=False, index=True)
    address = ForeignKey(Address, null=False, unique=True)
    number = Varchar(length=20)  # 楼栋号
    name = Varchar(length=100)
    floors_above = Integer(default=1)
    floors_below = Integer(default=0)
    floors_below_lived_in = Integer(default=0)  # 地下层居住层数
    nature = Varchar(length=100, default="住宅")
    built_on = Date(null=True, default=None)  # 修建日期
    # 楼栋图片: a reference (path or URL) to the stored photo, as the standard's BLOB travels.
    photo = Varchar(length=400, default="")
    # 委托代理人 (the owner's entrusted agent for the building, usually the property company's
    # manager): name, certificate type (ZJLX), number and phone; number and phone sealed.
    agent_name = Varchar(length=50, default="")
    agent_id_type = Varchar(length=3, default="")  # ZJLX
    agent_id_number_sealed = Text(default="")
    agent_phone_sealed = Text(default="")
    latitude = DoublePrecision()
    longitude = DoublePrecision()
    map_x = DoublePrecision(null=True, default=None)  # on the community's map, as Gate's
    map_y = DoublePrecision(null=True, default=None)


class Unit(Table):
    community = ForeignKey(Community, null=False, index=True)
    building = ForeignKey(Building, null=False, index=True)
    address = ForeignKey(Address, null=False, unique=True)
    number = Varchar(length=20)


class House(Table):
    community = ForeignKey(Community, null=False, index=True)
    building = ForeignKey(Building, null=False, index=True)
    unit = ForeignKey(Unit, null=False, index=True)
    address = ForeignKey(Address, null=False, unique=True)
    floor = Integer()
    room_no = Varchar(length=20)
    area = DoublePrecision(null=True, default=None)
    use = Varchar(length=20, choices=HouseUse, default=HouseUse.UNKNOWN)
    ownership = Varchar(length=100, default="商品房")  # 所有权类型


class Person(Table):
    """A natural person; ID numbers, phones and key-person flags are stored sealed.

    ``id_number_hash`` (keyed) is unique among established people: one row per document. A
    self-registration's provisional person holds ``PROVISIONAL`` + a random suffix instead until
    a verifier confirms it (or merges it into the person with the same document).
    """

    name = Varchar(length=50)
    id_type = Varchar(length=3)  # ZJLX
    id_number_encrypted = Text()
    id_number_hash = Varchar(length=64, unique=True)
    gender = Varchar(length=1)  # XB
    ethnicity = Varchar(length=2)  # MZ
    nationality = Varchar(length=3)  # GJ
    birth_date = Date(null=True, default=None)
    phone_sealed = Text(default="")
    phone_hash = Varchar(length=64, default="", index=True)  # keyed, to link accounts by phone
    hukou_region = Varchar(length=6)  # XZQH
    hukou_address = Varchar(length=100)
    # Confirmed by staff; empty while only proposed (see Residency.proposed_category).
    residence_category = Varchar(length=10, choices=ResidenceCategory)
    # 一标三实 (ybss) fields; "" while not collected. Codes of the dictionaries named.
    occupation = Varchar(length=3, default="")  # ZYLB (GB/T 6565 中类)
    education = Varchar(length=2, default="")  # WHCD
    marital_status = Varchar(length=2, default="")  # HYZK
    native_place = Varchar(length=6, default="")  # 籍贯, XZQH
    service_place = Varchar(length=100, default="")  # 服务处所 FWCS: where they work or study (≤ 100 bytes)
    # 重点人员 and 管理类别, police only: sealed for everyone alike, so rows don't tell who is flagged.
    key_sealed = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Residency(Table):
    community = ForeignKey(Community, null=False, index=True)
    house = ForeignKey(House, null=False, index=True)
    person = ForeignKey(Person, null=False, index=True)
    relation = Varchar(length=1)  # 与房主关系 YZGX
    reason = Varchar(length=2)  # 居住事由 ZZSY
    start_date = Date()
    end_date = Date(null=True, default=None)
    status = Varchar(length=10, choices=ResidencyStatus, default=ResidencyStatus.PENDING, index=True)
    registered_by = Integer(null=True, default=None)  # account id; null = anonymous self-registration
    registered_at = Timestamptz(default=TimestamptzNow())
    decided_by = Integer(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    decision_reason = Varchar(length=200, default="")
    # The account this residency gives a home to (its doors, its household); null: none yet.
    account = Integer(null=True, default=None, index=True)
    proposed_category = Varchar(length=10, default="")  # a self-registrant's 常住/寄住/流动
    lodging = Varchar(length=2, default="")  # 暂住处所 ZZCS: non-permanent residents only


class ResidencyCorrection(Table):
    """A police correction of a verified residency: its history, beside the audit trail."""

    residency = ForeignKey(Residency, null=False, index=True)
    corrected_by = Integer()
    corrected_at = Timestamptz(default=TimestamptzNow())
    reason = Varchar(length=200)
    category_from = Varchar(length=10, default="")
    category_to = Varchar(length=10, default="")
    account_unlinked = Boolean(default=False)


class Owner(Table):
    community = ForeignKey(Community, null=False, index=True)
    house = ForeignKey(House, null=False, index=True)
    person = ForeignKey(Person, null=False)
    since = Date(null=True, default=None)


class Organisation(Table):
    """实有单位: an organisation in the community (a shop, an office, a kindergarten, the property).

    Registered by property staff (pending) or police (verified at once); the police verify the
    property's. Counted in the community's verification rate beside people and houses.
    """

    community = ForeignKey(Community, null=False, index=True)
    address = ForeignKey(Address, null=True, default=None)  # its standard address, when it has one
    name = Varchar(length=100)
    credit_code = Varchar(length=18, default="")  # 统一社会信用代码 (GB 32100), "" if it has none
    kind = Varchar(length=20, choices=OrganisationKind, default=OrganisationKind.ENTERPRISE)
    place = Varchar(length=100, default="")  # where it is: the address text, or a place without one
    contact_name = Varchar(length=50, default="")
    contact_phone_sealed = Text(default="")
    status = Varchar(length=10, choices=ResidencyStatus, default=ResidencyStatus.PENDING, index=True)
    registered_by = Integer(null=True, default=None)
    registered_at = Timestamptz(default=TimestamptzNow())
    decided_by = Integer(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
