from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from backend.notices.tables import NoticeKind, NoticeStatus


class NoticeIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: NoticeKind
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]
    urgent: bool = False
    # Property staff publish for the owners' committee (业委会) under its name.
    for_committee: bool = False


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    verdict: Literal["approve", "return"]
    comment: Annotated[str, msgspec.Meta(max_length=500)] = ""


class PublishIn(msgspec.Struct, forbid_unknown_fields=True):
    at: dt.datetime | None = None  # later: scheduled; none or past: now


class ReviewOut(msgspec.Struct):
    side: str
    verdict: str
    comment: str
    by: str
    at: dt.datetime


class NoticeOut(msgspec.Struct):
    id: int
    community_id: int
    kind: NoticeKind
    title: str
    body: str
    urgent: bool
    author_label: str
    status: NoticeStatus
    needs_review: bool
    community_approved: bool
    police_approved: bool
    publish_at: dt.datetime | None
    published_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    created_at: dt.datetime
    read: bool = False
    reviews: list[ReviewOut] = []


class Feed(msgspec.Struct):
    notices: list[NoticeOut]
    unread: int


class CommunityFeed(msgspec.Struct):
    community_id: int
    community: str
    may_write: bool
    may_review: bool
    notices: list[NoticeOut]
    unread: int


class Reader(msgspec.Struct):
    name: str
    read_at: dt.datetime


class Receipts(msgspec.Struct):
    notice_id: int
    read: int
    readers: list[Reader]
