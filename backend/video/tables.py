"""Cameras as places, their recorders (NVR), and video inspection rounds (视频巡检).

A camera is a device of kind ``camera`` in the device registry (its code, secret, online state,
stream address and gate/building/unit live there); this domain adds what video needs: the area
the camera covers, its recorder and channel.
"""

from enum import StrEnum

from piccolo.columns import Bytea, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.accounts.tables import Account
from backend.registry.tables import Community


class Area(StrEnum):
    """What a camera watches, in the words of the seed's 视频监控系统 rows and score items 2–4."""

    COMMUNITY_ENTRANCE = "community_entrance"  # 小区出入口
    MAIN_PASSAGE = "main_passage"  # 重要出入通道 / 主要通道
    PUBLIC_AREA = "public_area"  # 小区公共活动区域
    PLAYGROUND_WATER = "playground_water"  # 儿童游乐和景观水系
    CAR_PARK = "car_park"  # 车辆集中停放区域 / 停车场
    UNIT_ENTRANCE = "unit_entrance"  # 楼栋单元出入口
    LIFT = "lift"  # 电梯
    PERIMETER = "perimeter"  # 周界
    MONITORING_CENTRE = "monitoring_centre"  # 监控中心
    GAS_STATION = "gas_station"  # 燃气调压站
    PUMP_ROOM = "pump_room"  # 水泵房
    POWER_ROOM = "power_room"  # 配电机房门口
    OTHER = "other"


# Each area as the standard's 视频监控系统 rows and the score sheet name it (设备区域名称).
AREA_NAMES = {
    Area.COMMUNITY_ENTRANCE: "小区出入口",
    Area.MAIN_PASSAGE: "重要出入通道",
    Area.PUBLIC_AREA: "小区公共活动区域",
    Area.PLAYGROUND_WATER: "儿童游乐和景观水系",
    Area.CAR_PARK: "车辆集中停放区域",
    Area.UNIT_ENTRANCE: "楼栋单元出入口",
    Area.LIFT: "电梯",
    Area.PERIMETER: "周界",
    Area.MONITORING_CENTRE: "监控中心",
    Area.GAS_STATION: "燃气调压站",
    Area.PUMP_ROOM: "水泵房",
    Area.POWER_ROOM: "配电机房",
    Area.OTHER: "其他",
}


class Verdict(StrEnum):
    """What an operator sees of a camera on an inspection round."""

    NORMAL = "normal"
    NO_SIGNAL = "no_signal"  # 无信号
    BLURRED = "blurred"  # 模糊
    BLOCKED = "blocked"  # 遮挡
    MOVED = "moved"  # 移位


class VideoState(StrEnum):
    """What the stream probe (or a live stream ending) last found of a camera's video."""

    UNKNOWN = "unknown"  # not probed yet, or no stream address
    OK = "ok"
    LOST = "lost"  # 视频丢失: the video-loss alarm is open while it lasts


class RoundStatus(StrEnum):
    OPEN = "open"
    ENDED = "ended"


class Recorder(Table):
    """A network video recorder (NVR); ``retention_days`` is what it last reported keeping."""

    community = ForeignKey(Community, null=False, index=True)
    name = Varchar(length=100)
    address = Varchar(length=200, default="")  # its host or management URL, never with credentials
    retention_days = Integer(null=True, default=None)
    reported_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class Camera(Table):
    device = Integer(unique=True)  # the device registry's camera
    community = ForeignKey(Community, null=False, index=True)
    area = Varchar(length=20, choices=Area)
    place = Varchar(length=200, default="")  # where exactly, as people say it
    recorder = ForeignKey(Recorder, null=True, default=None, index=True)
    channel = Integer(null=True, default=None)
    channel_key = Varchar(length=30, null=True, default=None, unique=True)  # recorder:channel, once
    video_state = Varchar(length=10, choices=VideoState, default=VideoState.UNKNOWN)
    video_checked_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class InspectionSchedule(Table):
    """How many inspection rounds a day the community owes; days are cut into that many windows
    from local midnight, and a window over since ``since`` without a round is missed."""

    community = ForeignKey(Community, null=False, unique=True)
    rounds_per_day = Integer()
    since = Timestamptz(default=TimestamptzNow())


class InspectionRound(Table):
    community = ForeignKey(Community, null=False, index=True)
    operator = ForeignKey(Account, null=False, index=True)
    started_at = Timestamptz(default=TimestamptzNow(), index=True)
    ended_at = Timestamptz(null=True, default=None)
    status = Varchar(length=10, choices=RoundStatus, default=RoundStatus.OPEN)


class InspectionCheck(Table):
    round = ForeignKey(InspectionRound, null=False, index=True)
    camera = ForeignKey(Camera, null=False, index=True)
    verdict = Varchar(length=20, choices=Verdict)
    note = Varchar(length=300, default="")
    at = Timestamptz(default=TimestamptzNow())
    key = Varchar(length=30, unique=True)  # round:camera: each camera once per round


class InspectionSnapshot(Table):
    """The check's snapshot, re-encoded as JPEG (metadata dropped), kept in the database like a
    service request's photo (监控内容图片)."""

    check = ForeignKey(InspectionCheck, null=False, unique=True)
    data = Bytea()
    bytes = Integer()
    created_at = Timestamptz(default=TimestamptzNow())


class CameraOnvif(Table):
    """Where a camera answers ONVIF (PTZ): its device service's host and port, and the account we
    use there; the password sealed like ID numbers (backend/keys.py) and never returned."""

    camera = ForeignKey(Camera, null=False, unique=True, on_delete=OnDelete.cascade)
    host = Varchar(length=253)
    port = Integer(default=80)
    username = Varchar(length=64, default="")
    password_sealed = Text(default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class CameraGroup(Table):
    """A named, ordered set of a community's cameras that the wall patrols (分组轮巡): a page of
    them at a time, the next page after ``dwell_seconds``."""

    community = ForeignKey(Community, null=False, index=True)
    name = Varchar(length=100)
    dwell_seconds = Integer(default=10)
    created_at = Timestamptz(default=TimestamptzNow())


class CameraGroupMember(Table):
    group = ForeignKey(CameraGroup, null=False, index=True)
    camera = ForeignKey(Camera, null=False, index=True)
    position = Integer()
