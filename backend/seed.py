"""Seeded communities for the demo and the tests: realistic, deterministic, fast (bulk inserts)."""

from __future__ import annotations

import datetime as dt
import random
import secrets

import msgspec

from backend.access.tables import AccessGrant, Door, DoorKind
from backend.accounts.tables import Account, StaffScope
from backend.alarms.kinds import RULES, AlarmType, State
from backend.alarms.tables import Alarm, AlarmStep, ButtonPairing, PerimeterZone
from backend.context import Context
from backend.credentials import service as credentials
from backend.credentials.tables import Credential, CredentialKind
from backend.db import transaction
from backend.devices.tables import Device, DeviceKind
from backend.doorplates.service import ensure_plates
from backend.doorplates.tables import Doorplate
from backend.patrol.tables import Checkpoint, CheckpointTag, PatrolRoute, PatrolShift
from backend.registry import service as registry
from backend.registry.enums import (
    HouseUse,
    OrganisationKind,
    PlaceKind,
    ResidenceCategory,
    ResidencyStatus,
    Tier,
)
from backend.registry.idnumber import check_digit
from backend.registry.organisations import credit_check_character
from backend.registry.tables import (
    Address,
    Building,
    Community,
    District,
    Gate,
    House,
    Organisation,
    Owner,
    Person,
    Residency,
    Unit,
)
from backend.services.tables import ServiceTile, TileKind
from backend.video.tables import Area, Camera, CameraGroup, CameraGroupMember, Recorder
from backend.visitors import service as visitors
from backend.visitors.tables import VisitorPolicy
from qr.tokens import new_plate_token
from roles import Role

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建文辉玲红梅鹏飞宇浩然欣怡子涵梓轩雨泽思远佳琪"
HUKOU = ["420112", "420102", "420106", "421100", "420900", "430100", "410100", "360100", "510100", "340100"]


class SeedSize(msgspec.Struct, frozen=True):
    buildings: int
    units: int
    floors: int
    flats_per_floor: int
    gates: int


# The community map's coordinate space (buildings, gates, perimeter zones): x to the east, y to the south.
MAP_WIDTH, MAP_HEIGHT = 1000, 700
SIMULATED_MODEL = "ANJU-SIM-1"  # every seeded device is the simulator's (device_bridge/simulator.py)
DEMO_SIZE = SeedSize(buildings=5, units=2, floors=10, flats_per_floor=2, gates=2)  # 200 flats
SMALL_SIZE = SeedSize(buildings=1, units=2, floors=2, flats_per_floor=2, gates=1)  # 8 flats


class SeededCommunity(msgspec.Struct):
    id: int
    name: str
    flats: int
    people: int


class SeedReport(msgspec.Struct):
    communities: list[SeededCommunity]


def fake_id_number(rng: random.Random, region: str, born: dt.date, male: bool) -> str:
    sequence = rng.randrange(0, 100) * 10 + rng.choice((1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8))
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17)


class _Builder:
    """Builds one community's places and people with bulk inserts."""

    def __init__(self, ctx: Context, rng: random.Random, community: Community, district_code: str) -> None:
        self.ctx, self.rng, self.community, self.district_code = ctx, rng, community, district_code
        self.addresses = 0

    async def address(self, kind: PlaceKind, text: str) -> Address:
        self.addresses += 1
        row = Address(
            community=self.community.id,
            kind=kind,
            text=text,
            code=f"{self.district_code}{self.community.code[-4:]}{self.addresses:06d}".ljust(20, "0"),
        )
        await row.save()
        return row

    def person(self, category: ResidenceCategory, age_range: tuple[int, int] = (18, 80)) -> Person:
        rng = self.rng
        male = rng.random() < 0.5
        born = dt.date.today() - dt.timedelta(days=rng.randint(age_range[0] * 365, age_range[1] * 365))
        region = "420112" if category is ResidenceCategory.PERMANENT else rng.choice(HUKOU)
        number = fake_id_number(rng, region, born, male)
        return Person(
            name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
            id_type="111",
            id_number_encrypted=self.ctx.keys.seal(number),
            id_number_hash=self.ctx.keys.lookup_hash("111", number),
            gender="1" if male else "2",
            ethnicity=rng.choice(["01"] * 18 + ["03", "15", "06"]),
            nationality="CHN",
            birth_date=born,
            hukou_region=region,
            hukou_address=f"{region} 户籍地址",
            residence_category=category,
            key_sealed=registry.sealed_key_flag(self.ctx, False),
            **{
                column._meta.name: value
                for column, value in registry.sealed_phone(
                    self.ctx, f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
                ).items()
            },
        )


async def seed_community(
    ctx: Context, district: District, *, code: str, name: str, street: str, size: SeedSize, seed: int
) -> tuple[Community, list[House]]:
    rng = random.Random(seed)
    community = Community(
        district=district.id,
        code=code,
        name=name,
        tier=Tier.DEMONSTRATION,
        street=street,
        police_station=f"{street.removesuffix('街道')}派出所",
        # The demo district's local codes (backend/registry/codes/local/420112.json).
        street_code=DEMO_STREET_CODES.get(street, ""),
        responsibility_area=f"{district.code}{DEMO_STREET_CODES[street]}001"
        if street in DEMO_STREET_CODES
        else "",
        road=f"{name.removesuffix('小区')}路"[:13],
        committee=f"{name.removesuffix('小区')}社区居民委员会",
        address=f"武汉市{district.name}{street}{name}",
        latitude=30.64 + rng.random() / 100,
        longitude=114.20 + rng.random() / 100,
    )
    await community.save()
    build = _Builder(ctx, rng, community, district.code)
    base = community.address
    for g in range(1, size.gates + 1):
        await Gate(
            community=community.id,
            name=f"{g}号门",
            address=(await build.address(PlaceKind.GATE, f"{base} {g}号门")).id,
            map_x=MAP_WIDTH * g / (size.gates + 1),
            map_y=MAP_HEIGHT - 40,
        ).save()
    houses: list[House] = []
    for b in range(1, size.buildings + 1):
        building = Building(
            community=community.id,
            number=f"{b}栋",
            name=f"{b}栋",
            floors_above=size.floors,
            built_on=dt.date(2012 + b % 5, 6, 1),
            photo=f"/media/buildings/{community.code}/{b}.jpg",
            agent_name="物业 经理",
            agent_id_type="111",
            agent_id_number_sealed=ctx.keys.seal(DEMO_AGENT_ID),
            agent_phone_sealed=ctx.keys.seal(f"1390000{b:04d}"),
            address=(await build.address(PlaceKind.BUILDING, f"{base} {b}栋")).id,
            latitude=community.latitude,
            longitude=community.longitude,
            map_x=150 + (b - 1) % 3 * 300,
            map_y=160 + (b - 1) // 3 * 220,
        )
        await building.save()
        for u in range(1, size.units + 1):
            unit = Unit(
                community=community.id,
                building=building.id,
                number=f"{u}单元",
                address=(await build.address(PlaceKind.UNIT, f"{base} {b}栋{u}单元")).id,
            )
            await unit.save()
            for floor in range(1, size.floors + 1):
                for flat in range(1, size.flats_per_floor + 1):
                    room = f"{floor}{flat:02d}"
                    house = House(
                        community=community.id,
                        building=building.id,
                        unit=unit.id,
                        floor=floor,
                        room_no=room,
                        area=round(rng.uniform(60, 140), 1),
                        address=(await build.address(PlaceKind.HOUSE, f"{base} {b}栋{u}单元{room}室")).id,
                    )
                    houses.append(house)
    await House.insert(*houses)
    houses = await House.objects().where(House.community == community.id).order_by(House.id)
    await _populate(build, houses)
    await ensure_plates(community.id)
    await _equip(ctx, community)
    await _video(ctx, community)
    await _services(community)
    await _patrol_route(community)
    await _organisations(ctx, community)
    return community, houses


DEMO_STREET_CODES = {"吴家山街道": "001", "金银湖街道": "010"}
# The buildings' entrusted agent (the property's manager): a well-formed resident ID number.
DEMO_AGENT_ID = "42011219800101001" + check_digit("42011219800101001")


async def _organisations(ctx: Context, community: Community) -> None:
    """实有单位 on the estate: verified by the police, but the last one, which waits for them."""
    rows = (
        ("安居物业服务有限公司", OrganisationKind.PROPERTY, "91420112MA4K000001"),
        ("便民超市", OrganisationKind.INDIVIDUAL, ""),
        ("阳光幼儿园", OrganisationKind.INSTITUTION, ""),
    )
    for index, (name, kind, credit) in enumerate(rows):
        await Organisation(
            community=community.id,
            name=name,
            kind=kind,
            credit_code=credit[:17] + credit_check_character(credit[:17]) if credit else "",
            place=f"{community.address} 底商{index + 1}号",
            contact_name="联系人",
            contact_phone_sealed=ctx.keys.seal(f"027-8{community.code[-4:]}1{index}"),
            status=ResidencyStatus.PENDING if index == len(rows) - 1 else ResidencyStatus.VERIFIED,
        ).save()


async def _services(community: Community) -> None:
    """The service tiles a community starts with; its property staff change them."""
    office = f"027-8{community.code[-4:]}00"
    tiles = (
        (TileKind.REPAIRS, "物业报修", "水电、门窗、公共设施报修", "8:00-20:00", office, ""),
        (TileKind.PARTY, "党群服务中心", "党员活动、志愿服务报名", "周一至周五 9:00-17:00", "", ""),
        (TileKind.ELDERLY_MEDICAL, "社区卫生服务站", "老年人健康体检、家庭医生签约", "8:00-17:30", "", ""),
        (TileKind.PAYMENT, "生活缴费", "水费、电费、燃气费", "", "", "https://www.95598.cn/"),
        (TileKind.POST, "快递驿站", "南门快递柜旁", "9:00-21:00", "", ""),
    )
    await ServiceTile.insert(
        *(
            ServiceTile(
                community=community.id,
                kind=kind,
                title=title,
                text=text,
                hours=hours,
                phone=phone,
                url=url,
                position=position,
            )
            for position, (kind, title, text, hours, phone, url) in enumerate(tiles)
        )
    )


async def _patrol_route(community: Community) -> None:
    """A night route of five checkpoints: the first gate, the first building and its units, the garden."""
    gate = await Gate.objects().where(Gate.community == community.id).order_by(Gate.id).first()
    building = (
        await Building.objects().where(Building.community == community.id).order_by(Building.id).first()
    )
    units = await Unit.objects().where(Unit.building == building.id).order_by(Unit.id).limit(2)
    route = PatrolRoute(community=community.id, name="夜间巡查路线")
    await route.save()
    stops = [
        {"name": f"{gate.name}岗亭", "gate": gate.id},
        {"name": f"{building.name}楼下", "building": building.id},
        *(
            {"name": f"{building.name}{unit.number}门厅", "building": building.id, "unit": unit.id}
            for unit in units
        ),
        {"name": "中心花园", "place": "小区中心花园凉亭"},
    ]
    for position, stop in enumerate(stops, start=1):
        checkpoint = Checkpoint(
            route=route.id, community=community.id, position=position, minute=(position - 1) * 10, **stop
        )
        await checkpoint.save()
        await CheckpointTag(checkpoint=checkpoint.id, token=new_plate_token()).save()
    await PatrolShift(
        route=route.id,
        community=community.id,
        name="夜班",
        starts=22 * 60,
        ends=6 * 60,
        every=120,
        tolerance=10,
    ).save()


def _device(ctx: Context, community: Community, code: str, kind: DeviceKind, name: str, **place) -> Device:
    return Device(
        community=community.id,
        code=f"{community.code}-{code}",
        kind=kind,
        name=name,
        model=SIMULATED_MODEL,
        secret_sealed=ctx.keys.seal(secrets.token_hex(32)),
        heartbeat_seconds=60,
        latitude=community.latitude,
        longitude=community.longitude,
        **place,
    )


async def _equip(ctx: Context, community: Community) -> None:
    """A face gate and a Wi-Fi probe at every gate, an intercom at every unit door, a smoke sensor per
    building, two SOS buttons, fire and energy sensors, perimeter zones with their detectors and cameras."""
    for gate in await Gate.objects().where(Gate.community == community.id).order_by(Gate.id):
        device = _device(
            ctx, community, f"gate{gate.id}", DeviceKind.FACE_GATE, f"{gate.name}人脸闸机", gate=gate.id
        )
        await device.save()
        await _device(
            ctx, community, f"probe{gate.id}", DeviceKind.WIFI_PROBE, f"{gate.name}WiFi探针", gate=gate.id
        ).save()
        await Door(
            community=community.id, name=gate.name, kind=DoorKind.GATE, gate=gate.id, device=device.id
        ).save()
    buildings = await Building.objects().where(Building.community == community.id).order_by(Building.id)
    for building in buildings:
        await _device(
            ctx,
            community,
            f"b{building.number.removesuffix('栋')}-smoke",
            DeviceKind.SMOKE_SENSOR,
            f"{building.name}烟感",
            building=building.id,
        ).save()
        for unit in await Unit.objects().where(Unit.building == building.id).order_by(Unit.id):
            label = f"{building.name}{unit.number}"
            device = _device(
                ctx,
                community,
                f"u{unit.id}-intercom",
                DeviceKind.INTERCOM,
                f"{label}可视对讲",
                building=building.id,
                unit=unit.id,
            )
            await device.save()
            await Door(
                community=community.id,
                name=f"{label}单元门",
                kind=DoorKind.UNIT,
                building=building.id,
                unit=unit.id,
                device=device.id,
            ).save()
    await _device(
        ctx, community, "sos-1", DeviceKind.EMERGENCY_BUTTON, "一键报警 1", building=buildings[0].id
    ).save()
    await _device(ctx, community, "sos-2", DeviceKind.EMERGENCY_BUTTON, "一键报警 2").save()
    await _sensors(ctx, community, buildings[0])
    await _perimeter(ctx, community)


async def _sensors(ctx: Context, community: Community, building: Building) -> None:
    """Fire and energy sensors of the first building, the community's meters and its notice screen."""
    for code, kind, name in (
        ("b1-firedoor", DeviceKind.DOOR_MAGNET, "消防通道门磁"),
        ("b1-leak", DeviceKind.LEAK_SENSOR, "地下室水浸"),
        ("hydrant-1", DeviceKind.HYDRANT_PRESSURE, "消防栓水压"),
        ("meter-water", DeviceKind.METER, "总水表"),
        ("screen-1", DeviceKind.SCREEN, "公告屏"),
    ):
        await _device(ctx, community, code, kind, f"{building.name}{name}", building=building.id).save()


# Perimeter zones along the map's north and south edges: (code, name, polygon).
ZONES = (
    ("north_fence", "北侧围墙", [[20, 20], [980, 20], [980, 60], [20, 60]]),
    ("south_fence", "南侧围墙", [[20, 600], [980, 600], [980, 630], [20, 630]]),
)


async def _perimeter(ctx: Context, community: Community) -> None:
    """Each zone with its detector (an electric fence or beam) and the camera that watches it; one
    open alarm on the first zone's detector, so every community's board has something to show."""
    for code, name, polygon in ZONES:
        label = code.removesuffix("_fence")
        detector = _device(ctx, community, f"pz-{label}", DeviceKind.PERIMETER_ZONE, f"{name}脉冲电子围栏")
        camera = _device(ctx, community, f"cam-{label}", DeviceKind.CAMERA, f"{name}摄像机")
        await detector.save()
        await camera.save()
        await PerimeterZone(
            community=community.id,
            name=name,
            code=code,
            polygon=msgspec.json.encode(polygon).decode(),
            detectors=f"[{detector.id}]",
            cameras=f"[{camera.id}]",
        ).save()
        if code == ZONES[0][0]:
            await _open_alarm(community, detector)


async def _video(ctx: Context, community: Community) -> None:
    """The monitoring room's recorder (30 days reported) and its cameras: the perimeter zones' two,
    one at the first gate, one over the car park, one at the first unit's door; the coverage shows
    the required areas still without one (main passages, lifts, pump room…)."""
    recorder = Recorder(
        community=community.id,
        name="监控室硬盘录像机",
        address="192.168.10.20",
        retention_days=30,
        reported_at=dt.datetime.now(dt.UTC),
    )
    await recorder.save()
    gate = await Gate.objects().where(Gate.community == community.id).order_by(Gate.id).first()
    unit = await Unit.objects().where(Unit.community == community.id).order_by(Unit.id).first()
    cameras = [
        (await _perimeter_camera(community, label), Area.PERIMETER, name)
        for label, name in (("north", "北侧围墙"), ("south", "南侧围墙"))
    ]
    for code, area, name, place in (
        ("cam-gate1", Area.COMMUNITY_ENTRANCE, f"{gate.name}摄像机", {"gate": gate.id}),
        ("cam-parking", Area.CAR_PARK, "地面停车场摄像机", {}),
        ("cam-unit1", Area.UNIT_ENTRANCE, "首个单元门摄像机", {"building": unit.building, "unit": unit.id}),
    ):
        device = _device(ctx, community, code, DeviceKind.CAMERA, name, **place)
        await device.save()
        cameras.append((device.id, area, name))
    # The simulated cameras of `anju bridge --simulate` (device_bridge/rtsp_cameras.py) serve each
    # camera at its code; a deployment sets its cameras' own addresses on their devices instead.
    for device_id, _, _ in cameras:
        code = (await Device.select(Device.code).where(Device.id == device_id).first())["code"]
        await Device.update({Device.stream_url: simulated_stream_url(ctx.settings, code)}).where(
            Device.id == device_id
        )
    saved = []
    for channel, (device_id, area, place) in enumerate(cameras, start=1):
        camera = Camera(
            device=device_id,
            community=community.id,
            area=area,
            place=place,
            recorder=recorder.id,
            channel=channel,
            channel_key=f"{recorder.id}:{channel}",
        )
        await camera.save()
        saved.append(camera.id)
    # The wall's patrol groups (分组轮巡): every camera, and the perimeter's two.
    for name, members in (("全部摄像机", saved), ("周界", saved[:2])):
        group = CameraGroup(community=community.id, name=name, dwell_seconds=10)
        await group.save()
        await CameraGroupMember.insert(
            *(CameraGroupMember(group=group.id, camera=c, position=i) for i, c in enumerate(members))
        )


def simulated_stream_url(settings, code: str) -> str:
    return f"rtsp://{settings.rtsp_sim_host}:{settings.rtsp_sim_port}/{code}"


async def _perimeter_camera(community: Community, label: str) -> int:
    code = f"{community.code}-cam-{label}"
    return (await Device.select(Device.id).where(Device.code == code).first())["id"]


async def _open_alarm(community: Community, device: Device) -> None:
    now = dt.datetime.now(dt.UTC)
    rule = RULES[AlarmType.TAMPER]
    alarm = Alarm(
        community=community.id,
        device=device.id,
        type=AlarmType.TAMPER,
        category=rule.category,
        severity=rule.severity,
        detail="外壳被打开 / enclosure opened",
        location=device.name,
        first_at=now,
        last_at=now,
        raised_at=now,
        escalated_at=now,  # seeded as already escalated: no job pushes it at start-up
        open_slot=f"{device.id}:{AlarmType.TAMPER}",
    )
    await alarm.save()
    await AlarmStep(alarm=alarm.id, state=State.NEW, at=now).save()


async def _pair_button(community: Community, house: House) -> None:
    """The first SOS button, paired with the first flat's first resident (the demo resident's household)."""
    button = await Device.objects().get(Device.code == f"{community.code}-sos-1")
    residency = await Residency.objects().where(Residency.house == house.id).order_by(Residency.id).first()
    address = await Address.objects().get(Address.id == house.address)
    await ButtonPairing(
        device=button.id,
        community=community.id,
        house=house.id,
        person=residency.person,
        location=address.text,
        paired_by=residency.account,
    ).save()
    await Device.update({Device.house: house.id, Device.unit: house.unit}).where(Device.id == button.id)


async def _populate(build: _Builder, houses: list[House]) -> None:
    """Owners and residents of every category; a few pending registrations and key persons."""
    rng = build.rng
    for index, house in enumerate(houses):
        owner = build.person(ResidenceCategory.PERMANENT, (30, 75))
        await owner.save()
        await Owner(community=house.community, house=house.id, person=owner.id).save()
        # The first flat is always lived in by its owner, so demos and tests have a known household.
        use = (
            HouseUse.SELF_OCCUPIED if index == 0 else rng.choices(list(HouseUse)[:3], weights=(70, 20, 10))[0]
        )
        await House.update({House.use: use}).where(House.id == house.id)
        if use is HouseUse.VACANT:
            continue
        occupants = [(owner, "1")] if use is HouseUse.SELF_OCCUPIED else []
        for _ in range(rng.randint(1, 3)):
            category = (
                ResidenceCategory.PERMANENT
                if use is HouseUse.SELF_OCCUPIED
                else rng.choice([ResidenceCategory.FLOATING, ResidenceCategory.LODGER])
            )
            person = build.person(category, (1, 85))
            # The first flat's first member is always flagged too, so the views that must hide
            # the flag (a warden's, a resident's) are shown a key person to hide.
            if rng.random() < 0.02 or (index == 0 and len(occupants) == 1):
                person.key_sealed = registry.sealed_key_flag(build.ctx, True, "重点人口")
            await person.save()
            occupants.append((person, rng.choice("2345") if use is HouseUse.SELF_OCCUPIED else "6"))
        await Residency.insert(
            *(
                Residency(
                    community=house.community,
                    house=house.id,
                    person=person.id,
                    relation=relation,
                    reason="00" if person.residence_category == ResidenceCategory.PERMANENT else "01",
                    start_date=dt.date.today() - dt.timedelta(days=rng.randint(30, 3000)),
                    status=ResidencyStatus.PENDING if rng.random() < 0.08 else ResidencyStatus.VERIFIED,
                )
                for person, relation in occupants
            )
        )


STAFF = (
    (Role.WARDEN, "协管员 王芳", "协管员 赵磊"),
    (Role.PROPERTY, "物业 李强", "物业 孙丽"),
    (Role.COMMUNITY_WORKER, "社区 张敏", "社区 周涛"),
    (Role.POLICE, "社区民警 陈军", "社区民警 吴杰"),
    (Role.MAINTENANCE, "维护中心 何勇", "维护中心 林峰"),
)  # role, name in the first community, name in the second
HOME, OTHER = "金银湖幸福家园", "吴家山翠柳苑"
HOME_STAFF, OTHER_STAFF = 13800000001, 13800000011  # consecutive phones, in STAFF order
ADMIN_PHONE, RESIDENT_PHONE = "13800000099", "13900000001"
DEMO_CARDS = ("8800000001", "8800000002")  # one registered card per community
DEMO_LOGINS: tuple[tuple[Role, str, str], ...] = (
    *((role, str(HOME_STAFF + i), f"{name} · {HOME}") for i, (role, name, _) in enumerate(STAFF)),
    *((role, str(OTHER_STAFF + i), f"{name} · {OTHER}") for i, (role, _, name) in enumerate(STAFF)),
    (Role.DISTRICT_ADMIN, ADMIN_PHONE, "区管理员 刘洋 · 东西湖区"),
    (Role.RESIDENT, RESIDENT_PHONE, f"resident of the first flat of {HOME} (1栋1单元101室)"),
)


def demo_phone(role: Role, second_community: bool = False) -> str:
    """The seeded sign-in phone of ``role`` (staff: in the first or the second community)."""
    if role is Role.RESIDENT:
        return RESIDENT_PHONE
    if role is Role.DISTRICT_ADMIN:
        return ADMIN_PHONE
    first = OTHER_STAFF if second_community else HOME_STAFF
    return str(first + [staff_role for staff_role, *_ in STAFF].index(role))


async def _staff(community: Community, first_phone: int, name_column: int) -> None:
    for offset, (role, *names) in enumerate(STAFF):
        name = names[name_column]
        account = Account(phone=str(first_phone + offset), name=name, role=role)
        await account.save()
        await StaffScope(account=account.id, community=community.id).save()
        now = dt.datetime.now(dt.UTC)
        await AccessGrant(
            community=community.id,
            account=account.id,
            valid_from=now - dt.timedelta(days=1),
            valid_until=now + dt.timedelta(days=365),
            reason="在岗人员",
        ).save()


async def _resident_login(ctx: Context, house: House, phone: str) -> None:
    """A resident account for the first occupant of ``house``: verified, declaring that phone."""
    residency = await Residency.objects().where(Residency.house == house.id).order_by(Residency.id).first()
    person = await Person.objects().get(Person.id == residency.person)
    await Person.update(registry.sealed_phone(ctx, phone)).where(Person.id == person.id)
    account = Account(phone=phone, name=person.name, role=Role.RESIDENT)
    await account.save()
    await Residency.update({Residency.status: ResidencyStatus.VERIFIED, Residency.account: account.id}).where(
        Residency.id == residency.id
    )


async def _card(ctx: Context, community: Community, number: str) -> None:
    """A card for the first verified occupant of the community's first flat (demo passes name them)."""
    residency = (
        await Residency.objects()
        .where((Residency.community == community.id) & (Residency.status == ResidencyStatus.VERIFIED))
        .order_by(Residency.house, Residency.id)
        .first()
    )
    value_hash = credentials.lookup(ctx.keys, community.id, CredentialKind.CARD, number)
    await Credential(
        community=community.id,
        house=residency.house,
        person=residency.person,
        kind=CredentialKind.CARD,
        value_hash=value_hash,
        active_hash=value_hash,
        value_sealed=ctx.keys.seal(number),
        label="门禁卡",
    ).save()


async def _visitors(ctx: Context, community: Community, issuer_phone: str, confirm_walk_ins: bool) -> None:
    """The community's walk-in policy, and a visitor's pass for its first flat."""
    await VisitorPolicy(community=community.id, confirm_walk_ins=confirm_walk_ins).save()
    house = await House.objects().where(House.community == community.id).order_by(House.id).first()
    issuer = await Account.select(Account.id).where(Account.phone == issuer_phone).first()
    await visitors.demo_pass(ctx, house.id, issuer["id"])


async def seed_district(ctx: Context, size: SeedSize = DEMO_SIZE) -> SeedReport:
    """Two communities of one district, staff for each, a district admin and a resident: DEMO_LOGINS."""
    async with transaction(Doorplate._meta.db):
        district = District(code="420112", name="东西湖区")
        await district.save()
        home, houses = await seed_community(
            ctx, district, code="420112001001", name=HOME, street="金银湖街道", size=size, seed=1
        )
        other, _ = await seed_community(
            ctx, district, code="420112002001", name=OTHER, street="吴家山街道", size=SMALL_SIZE, seed=2
        )
        await _staff(home, HOME_STAFF, 0)
        await _staff(other, OTHER_STAFF, 1)
        admin = Account(phone=ADMIN_PHONE, name="区管理员 刘洋", role=Role.DISTRICT_ADMIN)
        await admin.save()
        await StaffScope(account=admin.id, district=district.id).save()
        await _resident_login(ctx, houses[0], RESIDENT_PHONE)
        await _card(ctx, home, DEMO_CARDS[0])
        await _card(ctx, other, DEMO_CARDS[1])
        await _pair_button(home, houses[0])
        await _visitors(ctx, home, RESIDENT_PHONE, confirm_walk_ins=True)
        await _visitors(ctx, other, demo_phone(Role.PROPERTY, second_community=True), confirm_walk_ins=False)
    communities = [
        SeededCommunity(
            id=c.id,
            name=c.name,
            flats=await House.count().where(House.community == c.id),
            people=await Residency.count().where(Residency.community == c.id),
        )
        for c in (home, other)
    ]
    return SeedReport(communities=communities)
