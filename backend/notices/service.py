"""Notices (信息发布): property staff, the owners' committee, the community and the police inform residents.

General notices are published by their writer directly. Policy and police content (REVIEWED_KINDS)
is submitted for review and published only once the community (a community worker) and the
community police have both approved this round; a return sends it back to a draft with a comment.
Publishing (now, or by :func:`publish_due` when a scheduled one is due) is one conditional update
that announces the notice in the same transaction: a live event, and for an urgent notice a web push
to every verified resident of the community; once committed, the community's screens are sent a
``display`` command (display.py), and a withdrawal sends them a ``clear``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from backend.audit import service as audit
from backend.errors import Conflict, Invalid, NotFound
from backend.keys import Keys
from backend.live.outbox import PushMessage, announce
from backend.notices.display import Screens
from backend.notices.schemas import (
    CommunityFeed,
    Feed,
    NoticeIn,
    NoticeOut,
    PublishIn,
    Reader,
    Receipts,
    ReviewIn,
    ReviewOut,
)
from backend.notices.tables import REVIEWED_KINDS, Notice, NoticeKind, NoticeRead, NoticeReview, NoticeStatus
from backend.registry import service as registry
from backend.text import plain_text
from backend.uplink import operations as uplink
from device_bridge import store
from device_bridge.store import Writer
from roles import Action, Principal, Role, authorize, is_allowed

FEED_LIMIT = 100
# The reviewing side each reviewer role speaks for, and the column holding its approval.
SIDES = {Role.COMMUNITY_WORKER: "community", Role.POLICE: "police"}
APPROVAL = {"community": Notice.community_approval, "police": Notice.police_approval}
LABELS = {Role.PROPERTY: "property", Role.COMMUNITY_WORKER: "community", Role.POLICE: "police"}


PUBLISHED_COLUMNS = "id, community, kind, title, body, urgent, author, author_label, published_at"
PUBLISH_ONE = (
    "UPDATE notice SET status = {}, published_at = {} WHERE id = {} AND status = {} "
    f"RETURNING {PUBLISHED_COLUMNS}"
)
PUBLISH_DUE = (
    "UPDATE notice SET status = {}, published_at = {} WHERE status = {} AND publish_at <= {} "
    f"RETURNING {PUBLISHED_COLUMNS}"
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def needs_review(kind: str) -> bool:
    return kind in REVIEWED_KINDS


# --- reading ------------------------------------------------------------------------------


async def _notice_out(row: dict[str, Any], read: bool = False, with_reviews: bool = False) -> NoticeOut:
    reviews = []
    if with_reviews:
        rows = await (
            NoticeReview.select(NoticeReview.all_columns(), NoticeReview.reviewer.name.as_alias("by"))
            .where(NoticeReview.notice == row["id"])
            .order_by(NoticeReview.id)
        )
        reviews = [
            ReviewOut(side=r["side"], verdict=r["verdict"], comment=r["comment"], by=r["by"], at=r["at"])
            for r in rows
        ]
    return NoticeOut(
        id=row["id"],
        community_id=row["community"],
        kind=NoticeKind(row["kind"]),
        title=row["title"],
        body=row["body"],
        urgent=row["urgent"],
        author_label=row["author_label"],
        status=NoticeStatus(row["status"]),
        needs_review=needs_review(row["kind"]),
        community_approved=row["community_approval"] is not None,
        police_approved=row["police_approval"] is not None,
        publish_at=row["publish_at"],
        published_at=row["published_at"],
        withdrawn_at=row["withdrawn_at"],
        created_at=row["created_at"],
        read=read,
        reviews=reviews,
    )


async def _read_ids(account_id: int | None, notice_ids: list[int]) -> set[int]:
    if account_id is None or not notice_ids:
        return set()
    return set(
        await NoticeRead.select(NoticeRead.notice)
        .where((NoticeRead.account == account_id) & NoticeRead.notice.is_in(notice_ids))
        .output(as_list=True)
    )


async def feed(who: Principal, community_id: int) -> Feed:
    """The community's published notices, newest first, each marked read or not for the caller."""
    authorize(who, Action.READ_NOTICES, await registry.community_target(community_id))
    rows = await (
        Notice.select()
        .where((Notice.community == community_id) & (Notice.status == NoticeStatus.PUBLISHED))
        .order_by(Notice.published_at, ascending=False)
        .limit(FEED_LIMIT)
    )
    read = await _read_ids(who.account_id, [row["id"] for row in rows])
    notices = [await _notice_out(row, read=row["id"] in read) for row in rows]
    return Feed(notices=notices, unread=sum(1 for n in notices if not n.read))


async def my_feeds(who: Principal) -> list[CommunityFeed]:
    """The feed of each community the caller lives in or works for, with what they may do there."""
    authorize(who, Action.OPEN_NOTICES)
    names = await registry.community_names(who.home_communities)
    names |= {row["id"]: row["name"] for row in await registry.communities_in_scope(who)}
    feeds = []
    for community_id, name in sorted(names.items()):
        target = await registry.community_target(community_id)
        if not is_allowed(who, Action.READ_NOTICES, target):
            continue
        listed = await feed(who, community_id)
        feeds.append(
            CommunityFeed(
                community_id=community_id,
                community=name,
                may_write=is_allowed(who, Action.WRITE_NOTICES, target),
                may_review=is_allowed(who, Action.REVIEW_NOTICES, target),
                notices=listed.notices,
                unread=listed.unread,
            )
        )
    return feeds


async def desk(who: Principal, community_id: int) -> list[NoticeOut]:
    """Every notice of the community, for its writers and reviewers (drafts and reviews included)."""
    authorize(who, Action.WRITE_NOTICES, await registry.community_target(community_id))
    rows = await (
        Notice.select()
        .where(Notice.community == community_id)
        .order_by(Notice.id, ascending=False)
        .limit(FEED_LIMIT)
    )
    return [await _notice_out(row, with_reviews=True) for row in rows]


async def _notice(notice_id: int) -> dict[str, Any]:
    row = await Notice.select().where(Notice.id == notice_id).first()
    if row is None:
        raise NotFound("unknown_notice", f"No notice {notice_id}")
    return row


async def _authorized(who: Principal, notice_id: int, action: Action) -> dict[str, Any]:
    row = await _notice(notice_id)
    authorize(who, action, await registry.community_target(row["community"]))
    return row


async def view(who: Principal, notice_id: int) -> NoticeOut:
    """One notice; a published one is marked read for the caller. Drafts are for writers only."""
    row = await _authorized(who, notice_id, Action.READ_NOTICES)
    target = await registry.community_target(row["community"])
    if row["status"] != NoticeStatus.PUBLISHED:
        if not is_allowed(who, Action.WRITE_NOTICES, target):
            raise NotFound("unknown_notice", f"No notice {notice_id}")
        return await _notice_out(row, with_reviews=True)
    await NoticeRead.insert(
        NoticeRead(notice=notice_id, account=who.account_id, slot=f"{notice_id}:{who.account_id}")
    ).on_conflict(target=NoticeRead.slot, action="DO NOTHING")
    return await _notice_out(row, read=True, with_reviews=is_allowed(who, Action.WRITE_NOTICES, target))


async def receipts(who: Principal, notice_id: int, ip: str) -> Receipts:
    """Who read the notice and when: for its writers; naming the readers is an audited read."""
    row = await _authorized(who, notice_id, Action.WRITE_NOTICES)
    rows = await (
        NoticeRead.select(NoticeRead.read_at, NoticeRead.account.name.as_alias("name"))
        .where(NoticeRead.notice == notice_id)
        .order_by(NoticeRead.read_at)
    )
    await audit.record_read(
        who, "read_notice_receipts", f"notice:{notice_id}", community=row["community"], ip=ip
    )
    return Receipts(
        notice_id=notice_id,
        read=len(rows),
        readers=[Reader(name=r["name"], read_at=r["read_at"]) for r in rows],
    )


# --- writing --------------------------------------------------------------------------------


def _values(who: Principal, data: NoticeIn) -> dict[str, Any]:
    if data.for_committee and who.role != Role.PROPERTY:
        raise Invalid(
            "committee_by_property",
            "Only property staff publish for the owners' committee",
            field="for_committee",
        )
    return {
        "kind": data.kind,
        "title": plain_text(data.title, "title"),
        "body": plain_text(data.body, "body"),
        "urgent": data.urgent,
        "author_label": "committee" if data.for_committee else LABELS[who.role],
    }


async def draft(who: Principal, community_id: int, data: NoticeIn) -> NoticeOut:
    authorize(who, Action.WRITE_NOTICES, await registry.community_target(community_id))
    notice = Notice(community=community_id, author=who.account_id, **_values(who, data))
    await notice.save()
    return await _notice_out(await _notice(notice.id), with_reviews=True)


async def _move(notice_id: int, leaves: set[NoticeStatus], changes: dict[Any, Any], refusal: str) -> None:
    """Change the notice only if it is still in one of ``leaves``: of two racing steps one wins."""
    moved = await (
        Notice.update(changes)
        .where((Notice.id == notice_id) & Notice.status.is_in(list(leaves)))
        .returning(Notice.id)
    )
    if not moved:
        raise Conflict("illegal_transition", refusal)


async def edit(who: Principal, notice_id: int, data: NoticeIn) -> NoticeOut:
    await _authorized(who, notice_id, Action.WRITE_NOTICES)
    values = _values(who, data)
    changes = {getattr(Notice, key): value for key, value in values.items()}
    await _move(notice_id, {NoticeStatus.DRAFT}, changes, "Only a draft can be edited")
    return await _notice_out(await _notice(notice_id), with_reviews=True)


async def submit(who: Principal, notice_id: int) -> NoticeOut:
    row = await _authorized(who, notice_id, Action.WRITE_NOTICES)
    if not needs_review(row["kind"]):
        raise Conflict("no_review_needed", "A general notice needs no review: publish it")
    fresh_round = {
        Notice.status: NoticeStatus.IN_REVIEW,
        Notice.community_approval: None,
        Notice.police_approval: None,
    }
    await _move(notice_id, {NoticeStatus.DRAFT}, fresh_round, "Only a draft can be submitted for review")
    return await _notice_out(await _notice(notice_id), with_reviews=True)


async def review(who: Principal, notice_id: int, data: ReviewIn) -> NoticeOut:
    """A community worker or police officer of the community approves or returns a notice in review."""
    await _authorized(who, notice_id, Action.REVIEW_NOTICES)
    side = SIDES[who.role]
    comment = plain_text(data.comment, "comment")
    if data.verdict == "return":
        if not comment:
            raise Invalid("comment_needed", "Say what to change when returning a notice", field="comment")
        back = {
            Notice.status: NoticeStatus.DRAFT,
            Notice.community_approval: None,
            Notice.police_approval: None,
        }
        await _move(notice_id, {NoticeStatus.IN_REVIEW}, back, "Only a notice in review can be returned")
    else:
        await _approve(who, notice_id, side)
    await NoticeReview(
        notice=notice_id, reviewer=who.account_id, side=side, verdict=data.verdict, comment=comment
    ).save()
    return await _notice_out(await _notice(notice_id), with_reviews=True)


async def _approve(who: Principal, notice_id: int, side: str) -> None:
    column = APPROVAL[side]
    approved = await (
        Notice.update({column: who.account_id})
        .where((Notice.id == notice_id) & (Notice.status == NoticeStatus.IN_REVIEW) & column.is_null())
        .returning(Notice.id)
    )
    if not approved:
        row = await _notice(notice_id)
        if row["status"] == NoticeStatus.IN_REVIEW:
            raise Conflict("already_approved", f"The {side} side has already approved this notice")
        raise Conflict("illegal_transition", "Only a notice in review can be approved")
    # The second approval completes the review.
    await Notice.update({Notice.status: NoticeStatus.APPROVED}).where(
        (Notice.id == notice_id)
        & (Notice.status == NoticeStatus.IN_REVIEW)
        & Notice.community_approval.is_not_null()
        & Notice.police_approval.is_not_null()
    )


def _publishable(row: dict[str, Any]) -> NoticeStatus:
    """The status a notice is published from: an approved one if reviewed, else a draft."""
    ready = NoticeStatus.APPROVED if needs_review(row["kind"]) else NoticeStatus.DRAFT
    if row["status"] != ready:
        if ready == NoticeStatus.APPROVED:
            raise Conflict(
                "review_needed",
                "Policy and police notices are published once the community and the police have approved them",
            )
        raise Conflict("illegal_transition", f"A notice that is {row['status']} cannot be published")
    return ready


async def publish(screens: Screens, keys: Keys, who: Principal, notice_id: int, data: PublishIn) -> NoticeOut:
    """Publish now, or schedule for ``data.at`` (publish_due publishes it then); the community's
    screens show it once it is published."""
    row = await _authorized(who, notice_id, Action.WRITE_NOTICES)
    ready = _publishable(row)
    now = _now()
    if data.at is not None and data.at.tzinfo is None:
        raise Invalid("naive_time", "Give the time with its offset", field="at")
    if data.at is not None and data.at > now:
        scheduled = {Notice.status: NoticeStatus.SCHEDULED, Notice.publish_at: data.at}
        await _move(notice_id, {ready}, scheduled, "This notice changed meanwhile; reload it")
    else:
        async with store.writer(Notice._meta.db) as writer:
            rows = await writer.fetch(
                PUBLISH_ONE, NoticeStatus.PUBLISHED.value, writer.at(now), notice_id, ready.value
            )
            if not rows:
                raise Conflict("illegal_transition", "This notice changed meanwhile; reload it")
            await _published(writer, keys, rows[0])
        await screens.show(rows)
    return await _notice_out(await _notice(notice_id), with_reviews=True)


async def withdraw(screens: Screens, who: Principal, notice_id: int) -> NoticeOut:
    """Out of the feed, and off the community's screens."""
    row = await _authorized(who, notice_id, Action.WRITE_NOTICES)
    gone = {Notice.status: NoticeStatus.WITHDRAWN, Notice.withdrawn_at: _now()}
    await _move(
        notice_id,
        {NoticeStatus.PUBLISHED, NoticeStatus.SCHEDULED},
        gone,
        "Only a published or scheduled notice can be withdrawn",
    )
    await screens.clear(notice_id, row["community"])
    return await _notice_out(await _notice(notice_id), with_reviews=True)


# --- publication ------------------------------------------------------------------------------


async def _published(writer: Writer, keys: Keys, row: dict[str, Any]) -> None:
    """A notice just published: its live event (an urgent one pushed to the community's residents),
    and its record owed to the police platform."""
    await uplink.notice_published(writer, keys, row)
    urgent = bool(row["urgent"])
    payload = {key: row[key] for key in ("id", "kind", "title", "author_label")} | {"urgent": urgent}
    push = PushMessage(
        title=row["title"],
        body=row["body"][:120],
        url=f"/notices/{row['id']}",
        tag=f"notice-{row['id']}",
        urgency="high",
    )
    await announce(
        writer,
        community=row["community"],
        topic="notice",
        payload=payload,
        push_to=await registry.community_accounts(writer, row["community"]) if urgent else (),
        push=push if urgent else None,
    )


async def publish_due(
    transaction: Callable[[], AbstractAsyncContextManager[Writer]], screens: Screens, keys: Keys
) -> list[int]:
    """Publish every scheduled notice that is due; the ids this runner published.

    Safe with any number of runners: the one conditional update claims each notice, so whichever
    runner claims it announces it and sends it to the screens, and the others get no row.
    """
    now = _now()
    async with transaction() as writer:
        at = writer.at(now)
        rows = await writer.fetch(
            PUBLISH_DUE, NoticeStatus.PUBLISHED.value, at, NoticeStatus.SCHEDULED.value, at
        )
        for row in rows:
            await _published(writer, keys, row)
    await screens.show(rows)
    return [row["id"] for row in rows]
