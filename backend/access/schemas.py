from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from backend.ids import Id


class DoorOut(msgspec.Struct):
    id: int
    name: str
    kind: str
    online: bool


class DoorOpened(msgspec.Struct):
    door_id: int
    opened: bool
    command_id: str
    at: dt.datetime


class GrantIn(msgspec.Struct, forbid_unknown_fields=True):
    account_id: Id
    community_id: Id
    valid_from: dt.datetime
    valid_until: dt.datetime
    door_id: Id | None = None
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


class GrantOut(msgspec.Struct):
    id: int
    account_id: int
    community_id: int
    door_id: int | None
    valid_from: dt.datetime
    valid_until: dt.datetime


class GrantListed(msgspec.Struct):
    """A grant as the community's administrators list it."""

    id: int
    account_id: int
    account_name: str
    role: str
    door_id: int | None  # none: every door of the community
    door_name: str | None
    valid_from: dt.datetime
    valid_until: dt.datetime
    reason: str


class PassOut(msgspec.Struct):
    """One pass as a viewer sees it: the 门禁刷卡信息 fields, ID number and card per their role."""

    id: int
    at: dt.datetime
    door_id: int | None
    door: str
    method: str
    sk_fsdm: str
    direction: str
    granted: bool
    resolution: str  # "person", "unknown" (a credential nobody holds), "" (phone, face, …)
    person_id: int | None
    name: str
    id_number: str  # masked unless the viewer sees full numbers (police)
    credential: str  # the card or tag read, masked likewise


class PassPage(msgspec.Struct):
    items: list[PassOut]
    next_before: int | None  # pass as ``before`` for the next (older) page
