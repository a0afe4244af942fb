from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from backend.access.schemas import DoorOut
from backend.ids import Id

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Phone = Annotated[str, msgspec.Meta(max_length=11)]
Plate = Annotated[str, msgspec.Meta(max_length=8)]
Uses = Annotated[int, msgspec.Meta(ge=1, le=50)]
Doors = Annotated[list[Id], msgspec.Meta(max_length=16)]


class InvitationIn(msgspec.Struct, forbid_unknown_fields=True):
    visitor_name: Name
    valid_from: dt.datetime
    valid_until: dt.datetime
    house_id: Id | None = None  # omitted: the resident's only household
    phone: Phone = ""
    door_ids: Doors = []  # empty: the community's gates and the household's unit door
    uses: Uses = 4
    plate: Plate = ""


class WalkInIn(msgspec.Struct, forbid_unknown_fields=True):
    house_id: Id
    visitor_name: Name
    id_type: Annotated[str, msgspec.Meta(max_length=3)]  # 111 居民身份证 (居住证 carry the same number)
    id_number: Annotated[str, msgspec.Meta(max_length=30)]
    valid_until: dt.datetime
    phone: Phone = ""
    door_ids: Doors = []
    uses: Uses = 2
    plate: Plate = ""


class DeskHouse(msgspec.Struct):
    """A flat the guard desk may send a walk-in to: its standard address, no one's name."""

    id: int
    address: str


class PassOut(msgspec.Struct):
    id: int
    kind: str
    status: str
    house_id: int
    visitor_name: str
    plate: str
    doors: list[DoorOut]
    valid_from: dt.datetime
    valid_until: dt.datetime
    uses: int
    uses_left: int
    phone: str = ""  # masked


class PassIssued(msgspec.Struct):
    """The share link is shown once, at issue: only its digest is kept."""

    visitor_pass: PassOut
    share_url: str


class VisitOut(msgspec.Struct):
    door_id: int | None
    direction: str
    via: str
    granted: bool
    reason: str
    at: dt.datetime


class SharedPass(msgspec.Struct):
    """What the visitor sees at /v/{share token}: no account, only this pass."""

    visitor_name: str
    community: str
    status: str
    doors: list[DoorOut]
    valid_from: dt.datetime
    valid_until: dt.datetime
    uses_left: int
    refusal: str = ""  # why the pass opens nothing now (expired, revoked, used_up, not_confirmed)
    token: str = ""  # the signed QR token, while the pass is valid
    qr_image: str = ""  # the token's QR as an SVG data URI


class PassKey(msgspec.Struct):
    community_id: int
    algorithm: str
    public_key: str  # base64 of the 32 raw bytes
