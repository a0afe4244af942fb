from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from backend.ids import Id


class EBikeIn(msgspec.Struct, forbid_unknown_fields=True):
    person_id: Id
    brand: Annotated[str, msgspec.Meta(max_length=30)] = ""
    colour: Annotated[str, msgspec.Meta(max_length=20)] = ""
    # The anti-theft tag's number, if it has one yet: registered as a credential of kind "tag".
    tag: Annotated[str, msgspec.Meta(max_length=40)] = ""


class TagIn(msgspec.Struct, forbid_unknown_fields=True):
    tag: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class EBikeOut(msgspec.Struct):
    id: int
    house: int
    person_id: int
    name: str
    brand: str
    colour: str
    tag_id: int | None
    tag_shown: str  # masked, like every credential number
    tagged: bool  # carries an active tag
    created_at: dt.datetime


class TagCoverage(msgspec.Struct):
    community: int
    ebikes: int
    tagged: int
    coverage: float | None  # tagged / ebikes; None without e-bikes
    target: float  # the seed's 物联网防盗芯片安装率 target
