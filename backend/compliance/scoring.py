"""The self-assessment from the facts: subsystems against the tier's matrix, coverage targets, and
the score sheet. Pure functions: the figures in, the verdicts and their evidence out.

A measured item is the sum of its checks, each worth an equal share of its points; an item no
live data can show (the safety items, anti-climbing bars) is scored by the police's entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from backend.compliance import standard
from backend.compliance.facts import Facts
from backend.compliance.schemas import CheckOut, EntryOut, ItemOut, SubsystemOut, TargetOut
from backend.devices.tables import DeviceKind
from backend.registry.enums import PlaceKind, Tier
from backend.uplink.schemas import TableStatus
from backend.video.tables import AREA_NAMES, Area

# 保持实时上传: nothing owed to the police platform may wait longer than this.
UPLINK_LAG_MAX_SECONDS = 300
# 数据符合标准: the share of a table's records that passed the standard and were not refused.
DATA_COMPLETENESS_MIN = 0.99
SHOWN_PLACES = 5  # gaps named in an evidence line; the rest are counted

FIRE_ENERGY = {
    DeviceKind.SMOKE_SENSOR,
    DeviceKind.LEAK_SENSOR,
    DeviceKind.DOOR_MAGNET,
    DeviceKind.HYDRANT_PRESSURE,
    DeviceKind.METER,
}
UNIT_DOOR = {DeviceKind.INTERCOM, DeviceKind.DOOR_CONTROLLER, DeviceKind.FACE_GATE}
# Subsystems made of devices: their kinds, and where they must be placed ("gate", "unit" or anywhere).
DEVICE_SUBSYSTEMS: dict[str, tuple[frozenset[DeviceKind], str | None]] = {
    "perimeter": (frozenset({DeviceKind.PERIMETER_ZONE}), None),
    "pedestrian_access": (frozenset({DeviceKind.FACE_GATE, DeviceKind.DOOR_CONTROLLER}), "gate"),
    "vehicle_access": (frozenset({DeviceKind.BARRIER}), None),
    "face_recognition": (frozenset({DeviceKind.FACE_GATE}), None),
    "wifi_probe": (frozenset({DeviceKind.WIFI_PROBE}), None),
    "unit_door": (frozenset(UNIT_DOOR), "unit"),
    "emergency_alarm": (frozenset({DeviceKind.EMERGENCY_BUTTON}), None),
    "info_publish": (frozenset({DeviceKind.SCREEN}), None),
    "fire_energy": (frozenset(FIRE_ENERGY), None),
}
# The three 视频监控系统 rows of the matrix, by the areas their cameras watch.
VIDEO_SUBSYSTEMS: dict[str, tuple[Area, ...]] = {
    "video_public": (
        Area.COMMUNITY_ENTRANCE,
        Area.MAIN_PASSAGE,
        Area.PUBLIC_AREA,
        Area.PLAYGROUND_WATER,
        Area.CAR_PARK,
    ),
    "video_entrances": (Area.UNIT_ENTRANCE, Area.LIFT, Area.PERIMETER),
    "video_critical": (Area.MONITORING_CENTRE, Area.GAS_STATION, Area.PUMP_ROOM, Area.POWER_ROOM),
}
PLACE_NAMES = {
    PlaceKind.GATE: "小区大门",
    PlaceKind.BUILDING: "楼栋门",
    PlaceKind.UNIT: "单元门",
    PlaceKind.HOUSE: "入户门",
}
VERIFIED_NAMES = {"people": "实有人口", "houses": "实有房屋", "organisations": "实有单位"}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


# --- subsystems ------------------------------------------------------------------------------------


def _placed(device: dict, where: str | None) -> bool:
    if where == "gate":
        return device["gate"] is not None
    if where == "unit":
        return device["unit"] is not None or device["building"] is not None
    return True


def _devices(facts: Facts, key: str) -> tuple[int, int]:
    kinds, where = DEVICE_SUBSYSTEMS[key]
    found = [d for d in facts.devices if d["kind"] in kinds and _placed(d, where)]
    return len(found), sum(1 for d in found if d["online"])


def _cameras(facts: Facts, key: str) -> tuple[int, int]:
    areas = [a for a in facts.cameras.areas if a.area in VIDEO_SUBSYSTEMS[key]]
    return sum(a.cameras for a in areas), sum(a.online for a in areas)


def _counted(facts: Facts, key: str) -> tuple[int, str]:
    """Subsystems made of records rather than devices: how many, and what they are."""
    match key:
        case "patrol":
            return facts.patrol[0], f"巡更点 {facts.patrol[0]} 个，巡更记录 {facts.patrol[1]} 次"
        case "civic_services":
            return facts.services, f"提供服务 {facts.services} 项"
        case "doorplate":
            issued = sum(issued for _, issued, _ in facts.plates.values())
            return issued, f"已发放门牌 {issued} 块"
    return 1, "本平台（安居）"  # platform: the management platform is this one


def subsystem(facts: Facts, item: standard.Subsystem) -> SubsystemOut:
    online: int | None = None
    if item.key in DEVICE_SUBSYSTEMS or item.key in VIDEO_SUBSYSTEMS:
        total, online = (_devices if item.key in DEVICE_SUBSYSTEMS else _cameras)(facts, item.key)
        evidence = f"设备 {total} 台，在线 {online} 台"
    else:
        total, evidence = _counted(facts, item.key)
    return SubsystemOut(
        key=item.key,
        group=item.group,
        name=item.name,
        area=item.area,
        level=item.level(facts.tier),
        present=total > 0,
        total=total,
        online=online,
        evidence=evidence,
    )


def subsystems(facts: Facts) -> list[SubsystemOut]:
    return [subsystem(facts, item) for item in standard.subsystems()]


def _subsystem_check(key: str) -> Callable[[Facts], CheckOut]:
    def check(facts: Facts) -> CheckOut:
        found = subsystem(facts, next(s for s in standard.subsystems() if s.key == key))
        healthy = found.present and (found.online is None or found.online == found.total)
        return CheckOut(
            key=f"subsystem:{key}", label=f"{found.name}（{found.area}）", ok=healthy, evidence=found.evidence
        )

    return check


# --- coverage targets ------------------------------------------------------------------------------


def doorplates_installed(facts: Facts) -> TargetOut:
    total = sum(t for t, _, _ in facts.plates.values())
    installed = sum(i for _, _, i in facts.plates.values())
    value = _share(installed, total)
    per_kind = "，".join(
        f"{PLACE_NAMES[kind]} {i}/{t}（已发放 {issued}）"
        for kind, (t, issued, i) in facts.plates.items()
        if t
    )
    return TargetOut(
        key="doorplates_installed",
        label="二维码门牌安装率（首次现场扫码确认）",
        value=value,
        target=standard.target("doorplate_install_accuracy_labeling"),
        met=value is not None and value >= standard.target("doorplate_install_accuracy_labeling"),
        evidence=f"已安装 {installed}/{total} 个标准地址：{per_kind}" if total else "没有标准地址",
    )


def verification(facts: Facts) -> TargetOut:
    verified = sum(v for v, _ in facts.verification.values())
    total = sum(t for _, t in facts.verification.values())
    value = _share(verified, total)
    target = standard.target("population_house_org_verification")
    return TargetOut(
        key="verification",
        label="人口、房屋、单位信息核实率",
        value=value,
        target=target,
        met=value is not None and value >= target,
        evidence="，".join(f"{VERIFIED_NAMES[k]} {v}/{t}" for k, (v, t) in facts.verification.items()),
    )


def ebike_tags(facts: Facts) -> TargetOut:
    registered, tagged = facts.ebikes
    value = _share(tagged, registered)
    target = standard.target("ebike_chip_installation")
    return TargetOut(
        key="ebike_tags",
        label="电动车防盗芯片安装率",
        value=value,
        target=target,
        met=value is not None and value >= target,
        evidence=f"登记电动车 {registered} 辆，装有有效芯片 {tagged} 辆",
    )


def _table_completeness(table: TableStatus) -> TargetOut:
    total = table.pending + table.sent + table.rejected
    value = _share(total - table.rejected, total)
    return TargetOut(
        key=f"data:{table.table}",
        label=f"数据完整率：{table.name}",
        value=value,
        target=DATA_COMPLETENESS_MIN,
        met=value is not None and value >= DATA_COMPLETENESS_MIN,
        evidence=f"记录 {total} 条：已上传 {table.sent}，待上传 {table.pending}，被拒 {table.rejected}",
    )


def data_completeness(facts: Facts) -> list[TargetOut]:
    return [_table_completeness(table) for table in facts.uplink.tables]


def data_overall(facts: Facts) -> TargetOut:
    """Every table's completeness at once: the weakest table's share, met when all are."""
    tables = data_completeness(facts)
    weakest = min((t for t in tables if t.value is not None), key=lambda t: t.value or 0.0, default=None)
    failing = [t.label.removeprefix("数据完整率：") for t in tables if not t.met]
    rejected = facts.uplink.rejected
    evidence = (
        f"{len(tables)} 张标准表，记录 {facts.uplink.pending + facts.uplink.sent + rejected} 条，被拒 {rejected} 条"
        + (f"；未达标：{'、'.join(failing)}" if failing else "")
        if tables
        else "尚无按数据标准生成的记录"
    )
    return TargetOut(
        key="data_completeness",
        label="数据完整率（各标准表）",
        value=weakest.value if weakest else None,
        target=DATA_COMPLETENESS_MIN,
        met=bool(tables) and not failing,
        evidence=evidence,
    )


def coverage(facts: Facts) -> list[TargetOut]:
    return [
        doorplates_installed(facts),
        verification(facts),
        ebike_tags(facts),
        data_overall(facts),
        *data_completeness(facts),
    ]


def headline_coverage(facts: Facts) -> list[TargetOut]:
    """The district view's columns: the four targets, data completeness as one."""
    return coverage(facts)[:4]


def _target_check(measure: Callable[[Facts], TargetOut]) -> Callable[[Facts], CheckOut]:
    def check(facts: Facts) -> CheckOut:
        found = measure(facts)
        figure = f"{_percent(found.value)}（目标 ≥ {found.target:.0%}）"
        return CheckOut(
            key=found.key, label=found.label, ok=found.met, evidence=f"{figure}：{found.evidence}"
        )

    return check


# --- other checks ----------------------------------------------------------------------------------


def _named(places: Iterable[str]) -> str:
    names = [name for name in places if name]
    more = f" 等 {len(names)} 处" if len(names) > SHOWN_PLACES else ""
    return "、".join(names[:SHOWN_PLACES]) + more


def perimeter_cameras(facts: Facts) -> CheckOut:
    watched = [name for name, cameras in facts.zones if cameras]
    unwatched = [name for name, cameras in facts.zones if not cameras]
    evidence = f"防区 {len(facts.zones)} 个，联动摄像机 {len(watched)} 个" + (
        f"；无摄像机：{_named(unwatched)}" if unwatched else ""
    )
    return CheckOut(
        key="perimeter_cameras",
        label="周界报警联动画面弹出（每个防区有摄像机）",
        ok=bool(facts.zones) and not unwatched,
        evidence=evidence,
    )


def video_coverage(facts: Facts) -> CheckOut:
    gaps = [gap for gap in facts.cameras.gaps if gap.area != Area.LIFT]
    places = [f"{AREA_NAMES[gap.area]}{gap.place}" for gap in gaps]
    return CheckOut(
        key="video_coverage",
        label="视频覆盖出入口、主要通道、停车场等重要区域",
        ok=not gaps,
        evidence=f"缺少摄像机 {len(gaps)} 处：{_named(places)}" if gaps else "必需区域均有摄像机",
    )


def video_recording(facts: Facts) -> CheckOut:
    cameras = sum(a.cameras for a in facts.cameras.areas)
    reasons: dict[str, int] = {}
    for flag in facts.cameras.flags:
        reasons[flag.reason] = reasons.get(flag.reason, 0) + 1
    words = {
        "offline": "离线",
        "video_lost": "视频丢失",
        "no_recorder": "未接录像机",
        "retention_unreported": "未报录像天数",
        "retention_short": f"录像不足 {facts.cameras.retention_days_min} 天",
    }
    problems = "，".join(f"{words.get(reason, reason)} {n}" for reason, n in sorted(reasons.items()))
    return CheckOut(
        key="video_recording",
        label=f"摄像机在线且录像保存 ≥ {facts.cameras.retention_days_min} 天",
        ok=cameras > 0 and not facts.cameras.flags,
        evidence=f"摄像机 {cameras} 台" + (f"：{problems}" if problems else "，均在线并按要求录像"),
    )


def video_inspection(facts: Facts) -> CheckOut:
    per_day = facts.inspections.rounds_per_day
    missed = len(facts.inspections.missed)
    return CheckOut(
        key="video_inspection",
        label="落实视频巡检（按计划巡检，无漏巡）",
        ok=per_day is not None and missed == 0,
        evidence=f"每日 {per_day} 轮，近期漏巡 {missed} 次" if per_day else "未设视频巡检计划",
    )


def unit_doors(facts: Facts) -> CheckOut:
    equipped = {d["unit"] for d in facts.devices if d["kind"] in UNIT_DOOR and d["unit"] is not None}
    bare = [u["label"] for u in facts.units if u["id"] not in equipped]
    return CheckOut(
        key="unit_doors",
        label="每个单元门安装智能门禁",
        ok=bool(facts.units) and not bare,
        evidence=f"单元 {len(facts.units)} 个，装有门禁 {len(facts.units) - len(bare)} 个"
        + (f"；未装：{_named(bare)}" if bare else ""),
    )


def lift_cameras(facts: Facts) -> CheckOut:
    gaps = [gap.place for gap in facts.cameras.gaps if gap.area == Area.LIFT]
    return CheckOut(
        key="lift_cameras",
        label="电梯内安装视频监控探头",
        ok=not gaps,
        evidence=f"电梯无摄像机 {len(gaps)} 处：{_named(gaps)}" if gaps else "有电梯的单元均有电梯摄像机",
    )


def patrol_records(facts: Facts) -> CheckOut:
    checkpoints, runs = facts.patrol
    return CheckOut(
        key="patrol_records",
        label="电子巡查：巡更点与可查询的巡更记录",
        ok=checkpoints > 0 and runs > 0,
        evidence=f"巡更点 {checkpoints} 个，巡更记录 {runs} 次",
    )


def buttons_paired(facts: Facts) -> CheckOut:
    buttons = [d for d in facts.devices if d["kind"] == DeviceKind.EMERGENCY_BUTTON]
    paired = sum(1 for d in buttons if d["house"] is not None)
    return CheckOut(
        key="buttons_paired",
        label="重点帮扶人员配备一键呼",
        ok=paired > 0,
        evidence=f"一键报警 {len(buttons)} 个，已绑定住户 {paired} 个",
    )


def uplink_realtime(facts: Facts) -> CheckOut:
    status = facts.uplink
    return CheckOut(
        key="uplink_realtime",
        label=f"数据实时上传（积压不超过 {UPLINK_LAG_MAX_SECONDS // 60} 分钟）",
        ok=status.configured and status.lag_seconds <= UPLINK_LAG_MAX_SECONDS,
        evidence=("已配置上传" if status.configured else "未配置上传地址")
        + f"，待上传 {status.pending} 条，最久积压 {status.lag_seconds:.0f} 秒",
    )


Check = Callable[[Facts], CheckOut]
VIDEO_ROOM: tuple[Check, ...] = (video_coverage, video_recording, video_inspection)
ENTRANCES: tuple[Check, ...] = (
    _subsystem_check("face_recognition"),
    _subsystem_check("pedestrian_access"),
    _subsystem_check("vehicle_access"),
)
DOORPLATES_EBIKES: tuple[Check, ...] = (_target_check(doorplates_installed), _target_check(ebike_tags))
DATA: tuple[Check, ...] = (_target_check(data_overall), uplink_realtime, _target_check(verification))
# The items live data can show, by (sheet, no); every other item is entered by the police.
MEASURED: dict[tuple[str, int], tuple[Check, ...]] = {
    (Tier.DEMONSTRATION, 1): (_subsystem_check("perimeter"), perimeter_cameras),
    (Tier.DEMONSTRATION, 2): VIDEO_ROOM,
    (Tier.DEMONSTRATION, 3): ENTRANCES,
    (Tier.DEMONSTRATION, 4): (unit_doors, lift_cameras),
    (Tier.DEMONSTRATION, 5): DOORPLATES_EBIKES,
    (Tier.DEMONSTRATION, 6): (_subsystem_check("patrol"), patrol_records),
    (Tier.DEMONSTRATION, 7): (_subsystem_check("fire_energy"), buttons_paired),
    (Tier.DEMONSTRATION, 8): DATA,
    (Tier.STANDARD, 2): VIDEO_ROOM,
    (Tier.STANDARD, 3): ENTRANCES,
    (Tier.STANDARD, 4): (unit_doors,),
    (Tier.STANDARD, 5): DOORPLATES_EBIKES,
    (Tier.STANDARD, 6): DATA,
}


def item_key(sheet: str, no: int) -> str:
    return f"{sheet}-{no}"


def items(facts: Facts, entries: dict[str, EntryOut]) -> list[ItemOut]:
    scored = []
    for sheet, item in standard.sheet(facts.tier):
        key = item_key(sheet, item.no)
        checks = [check(facts) for check in MEASURED.get((sheet, item.no), ())]
        entry = None if checks else entries.get(key)
        if checks:
            score: float | None = round(item.points * sum(c.ok for c in checks) / len(checks), 1)
        else:
            score = entry.points if entry else None
        scored.append(
            ItemOut(
                item=key,
                sheet=sheet,
                no=item.no,
                text=item.text,
                points=item.points,
                measured=bool(checks),
                score=score,
                checks=checks,
                entry=entry,
            )
        )
    return scored


def entered_item(tier: Tier, key: str) -> standard.Item | None:
    """The item ``key`` of a ``tier`` community's sheet if the police enter it, else None."""
    for sheet, item in standard.sheet(tier):
        if item_key(sheet, item.no) == key and (sheet, item.no) not in MEASURED:
            return item
    return None
