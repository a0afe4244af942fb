from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from backend.vehicles.tables import Outcome, Reason

Plate = Annotated[str, msgspec.Meta(max_length=20)]


class VehicleIn(msgspec.Struct, forbid_unknown_fields=True):
    plate: Plate  # 鄂A12345, 鄂AD12345, 鄂A12345D…; spaces and · are ignored
    hpzl: Annotated[str, msgspec.Meta(max_length=2)]  # 号牌种类 (codes HPZL): 02 小型汽车, 52 小型新能源汽车…
    color: Annotated[str, msgspec.Meta(max_length=1)] = ""  # 车身颜色 (codes CSYS), optional


class VehicleOut(msgspec.Struct):
    id: int
    house_id: int
    plate: str
    hpzl: str
    hpzl_name: str
    color: str
    created_at: dt.datetime


class PassageOut(msgspec.Struct):
    """One vehicle at a barrier (机动车出入信息); the watch list is never shown here."""

    id: int
    device_id: int
    device_name: str
    plate: str
    hpzl: str
    color: str
    plate_color: str
    direction: str
    at: dt.datetime
    picture: str
    reason: Reason
    outcome: Outcome
    opened: bool | None
    house_id: int | None
    decided_by: int | None
    decided_at: dt.datetime | None


class WatchIn(msgspec.Struct, forbid_unknown_fields=True):
    plate: Plate
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


class WatchOut(msgspec.Struct):
    id: int
    plate: str
    note: str
    created_at: dt.datetime
