from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from backend.services.tables import RequestCategory, RequestStatus, TileKind


class TileIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: TileKind
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    text: Annotated[str, msgspec.Meta(max_length=300)] = ""
    hours: Annotated[str, msgspec.Meta(max_length=50)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=20, pattern=r"^[0-9+\- ]*$")] = ""
    # Only https links: a tile must not open javascript: or plain-http pages.
    url: Annotated[str, msgspec.Meta(max_length=300, pattern=r"^(https://[^\s<>\"]+)?$")] = ""
    position: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    enabled: bool = True


class TileOut(msgspec.Struct):
    id: int
    kind: TileKind
    title: str
    text: str
    hours: str
    phone: str
    url: str
    position: int
    enabled: bool


class CommunityTiles(msgspec.Struct):
    community_id: int
    community: str
    tiles: list[TileOut]


class RequestIn(msgspec.Struct, forbid_unknown_fields=True):
    category: RequestCategory
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class StepIn(msgspec.Struct, forbid_unknown_fields=True):
    step: Literal["take", "note", "close"]
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class RatingIn(msgspec.Struct, forbid_unknown_fields=True):
    stars: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[str, msgspec.Meta(max_length=300)] = ""


class EventOut(msgspec.Struct):
    step: str
    note: str
    by: str
    at: dt.datetime


class RequestOut(msgspec.Struct):
    id: int
    community_id: int
    category: RequestCategory
    text: str
    status: RequestStatus
    requester: str
    place: str
    created_at: dt.datetime
    closed_at: dt.datetime | None
    has_photo: bool
    rating: int | None
    rating_comment: str
    unseen: int  # steps by staff the requester has not read yet
    events: list[EventOut]
