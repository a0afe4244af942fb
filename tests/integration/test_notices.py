"""Notices (信息发布) through the API: review by both sides, publishing, scheduling, withdrawal, receipts,
the announcement rows of an urgent notice, and the attacks."""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec

from backend.accounts.tables import Account
from backend.audit.tables import AuditEntry
from backend.live.tables import LiveEvent, PushOutbox
from backend.notices.display import Screens
from backend.notices.service import publish_due
from backend.notices.tables import Notice
from backend.registry.enums import ResidencyStatus
from backend.registry.tables import Residency
from device_bridge import store
from roles import Role

WATER = {"kind": "general", "title": "停水通知", "body": "明天 9:00-12:00 停水检修"}
FRAUD = {"kind": "police_alert", "title": "警惕电信诈骗", "body": "近期冒充客服的诈骗高发，请勿转账"}


async def draft(world, body: dict, role: Role = Role.PROPERTY) -> dict:
    response = await world.client.post(
        f"/api/communities/{world.home}/notices", json=body, headers=await world.headers(role)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def act(world, notice_id: int, step: str, role: Role, body=None, community: str = "home"):
    return await world.client.post(
        f"/api/notices/{notice_id}/{step}",
        json=body if body is not None else {},
        headers=await world.headers(role, community),
    )


async def approve(world, notice_id: int, role: Role, community: str = "home"):
    return await act(world, notice_id, "review", role, {"verdict": "approve"}, community)


async def feed(world, role: Role = Role.RESIDENT, community: int | None = None):
    return await world.client.get(
        f"/api/communities/{community or world.home}/notices", headers=await world.headers(role)
    )


async def submitted(world) -> dict:
    notice = await draft(world, FRAUD, Role.POLICE)
    response = await act(world, notice["id"], "submit", Role.POLICE)
    assert response.json()["status"] == "in_review"
    return notice


async def test_a_general_notice_is_published_directly_and_read_with_a_receipt(world):
    notice = await draft(world, WATER)
    assert notice["status"] == "draft" and notice["author_label"] == "property"
    assert (await feed(world)).json() == {"notices": [], "unread": 0}
    assert (await act(world, notice["id"], "submit", Role.PROPERTY)).json()["extra"]["code"] == (
        "no_review_needed"
    )
    published = await act(world, notice["id"], "publish", Role.PROPERTY)
    assert published.status_code == 200 and published.json()["status"] == "published"

    listed = (await feed(world)).json()
    assert [n["title"] for n in listed["notices"]] == ["停水通知"] and listed["unread"] == 1
    resident = await world.headers(Role.RESIDENT)
    read = await world.client.get(f"/api/notices/{notice['id']}", headers=resident)
    assert read.json()["read"] is True
    await world.client.get(f"/api/notices/{notice['id']}", headers=resident)  # a second read: one receipt
    assert (await feed(world)).json()["unread"] == 0

    receipts = await world.client.get(
        f"/api/notices/{notice['id']}/receipts", headers=await world.headers(Role.PROPERTY)
    )
    resident_name = (
        await Account.select(Account.name).where(Account.phone == world.phone(Role.RESIDENT)).first()
    )["name"]
    assert receipts.json()["read"] == 1 and [r["name"] for r in receipts.json()["readers"]] == [resident_name]
    assert await AuditEntry.exists().where(AuditEntry.action == "read_notice_receipts")
    assert (await act(world, notice["id"], "publish", Role.PROPERTY)).status_code == 409  # not twice


async def test_property_staff_publish_for_the_owners_committee_and_nobody_else_can(world):
    notice = await draft(world, {**WATER, "for_committee": True})
    assert notice["author_label"] == "committee"
    refused = await world.client.post(
        f"/api/communities/{world.home}/notices",
        json={**WATER, "for_committee": True},
        headers=await world.headers(Role.COMMUNITY_WORKER),
    )
    assert refused.status_code == 422 and refused.json()["extra"]["code"] == "committee_by_property"


async def test_police_content_needs_both_reviews_before_it_can_be_published(world):
    notice = await draft(world, FRAUD, Role.POLICE)
    refused = await act(world, notice["id"], "publish", Role.POLICE)
    assert refused.status_code == 409 and refused.json()["extra"]["code"] == "review_needed"
    await act(world, notice["id"], "submit", Role.POLICE)
    assert (await approve(world, notice["id"], Role.POLICE)).json()["police_approved"] is True
    half = await act(world, notice["id"], "publish", Role.POLICE)
    assert half.status_code == 409 and half.json()["extra"]["code"] == "review_needed"
    both = await approve(world, notice["id"], Role.COMMUNITY_WORKER)
    assert both.json()["status"] == "approved" and both.json()["community_approved"] is True
    assert (await act(world, notice["id"], "publish", Role.COMMUNITY_WORKER)).json()["status"] == "published"
    assert [n["id"] for n in (await feed(world)).json()["notices"]] == [notice["id"]]


async def test_a_returned_notice_goes_back_to_a_draft_with_the_comment_and_a_fresh_round(world):
    notice = await submitted(world)
    await approve(world, notice["id"], Role.COMMUNITY_WORKER)
    no_comment = await act(world, notice["id"], "review", Role.POLICE, {"verdict": "return"})
    assert no_comment.status_code == 422
    returned = await act(
        world, notice["id"], "review", Role.POLICE, {"verdict": "return", "comment": "写明报警电话 110"}
    )
    body = returned.json()
    assert body["status"] == "draft" and not body["community_approved"] and not body["police_approved"]
    assert [(r["side"], r["verdict"], r["comment"]) for r in body["reviews"]] == [
        ("community", "approve", ""),
        ("police", "return", "写明报警电话 110"),
    ]
    edited = await world.client.put(
        f"/api/notices/{notice['id']}",
        json={**FRAUD, "body": FRAUD["body"] + "，遇到诈骗请拨打 110"},
        headers=await world.headers(Role.POLICE),
    )
    assert edited.status_code == 200
    await act(world, notice["id"], "submit", Role.POLICE)
    await approve(world, notice["id"], Role.POLICE)
    assert (
        await act(world, notice["id"], "publish", Role.POLICE)
    ).status_code == 409  # the old approval is gone


async def test_a_reviewer_cannot_approve_twice_nor_review_outside_a_review(world):
    notice = await submitted(world)
    assert (await approve(world, notice["id"], Role.POLICE)).status_code == 200
    again = await approve(world, notice["id"], Role.POLICE)
    assert again.status_code == 409 and again.json()["extra"]["code"] == "already_approved"
    general = await draft(world, WATER)
    refused = await approve(world, general["id"], Role.POLICE)
    assert refused.status_code == 409 and refused.json()["extra"]["code"] == "illegal_transition"
    editing = await world.client.put(
        f"/api/notices/{notice['id']}", json=FRAUD, headers=await world.headers(Role.POLICE)
    )
    assert editing.status_code == 409  # no edits under review


async def test_wrong_roles_and_other_communities_are_refused(world):
    notice = await submitted(world)
    resident = await world.headers(Role.RESIDENT)
    attempts = [
        await world.client.post(f"/api/communities/{world.home}/notices", json=WATER, headers=resident),
        await act(world, notice["id"], "publish", Role.RESIDENT),
        await approve(world, notice["id"], Role.WARDEN),  # a warden is no reviewer
        await approve(world, notice["id"], Role.PROPERTY),
        await approve(world, notice["id"], Role.POLICE, "other"),  # police of another community
        await approve(world, notice["id"], Role.COMMUNITY_WORKER, "other"),
        await feed(world, Role.RESIDENT, world.other),  # another community's feed
        await world.client.get(f"/api/notices/{notice['id']}/receipts", headers=resident),
        await world.client.get(f"/api/communities/{world.home}/notices/desk", headers=resident),
    ]
    assert [a.status_code for a in attempts] == [403] * len(attempts)
    assert (await world.client.get(f"/api/communities/{world.home}/notices")).status_code == 401
    # A resident asking for a draft by id learns nothing of it.
    assert (await world.client.get(f"/api/notices/{notice['id']}", headers=resident)).status_code == 404
    row = await Notice.select(Notice.police_approval, Notice.community_approval).first()
    assert row == {"police_approval": None, "community_approval": None}


async def test_a_withdrawn_notice_leaves_the_feed(world):
    notice = await draft(world, WATER)
    await act(world, notice["id"], "publish", Role.PROPERTY)
    assert (await act(world, notice["id"], "withdraw", Role.PROPERTY)).json()["status"] == "withdrawn"
    assert (await feed(world)).json()["notices"] == []
    resident = await world.headers(Role.RESIDENT)
    assert (await world.client.get(f"/api/notices/{notice['id']}", headers=resident)).status_code == 404
    assert (await act(world, notice["id"], "withdraw", Role.PROPERTY)).status_code == 409


async def test_a_scheduled_notice_is_published_once_by_two_concurrent_runners(world):
    notice = await draft(world, {**WATER, "urgent": True})
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    scheduled = await act(world, notice["id"], "publish", Role.PROPERTY, {"at": later})
    assert scheduled.json()["status"] == "scheduled"
    transaction = lambda: store.writer(Notice._meta.db)  # noqa: E731
    screens = Screens.of(world.ctx)
    assert await publish_due(transaction, screens, world.ctx.keys) == []  # not due yet
    assert (await feed(world)).json()["notices"] == []

    await Notice.update({Notice.publish_at: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}).where(
        Notice.id == notice["id"]
    )  # the hour has passed
    runs = await asyncio.gather(
        publish_due(transaction, screens, world.ctx.keys), publish_due(transaction, screens, world.ctx.keys)
    )
    assert sorted(runs) == [[], [notice["id"]]]
    assert await LiveEvent.count().where(LiveEvent.topic == "notice") == 1
    assert [n["id"] for n in (await feed(world)).json()["notices"]] == [notice["id"]]


async def test_an_urgent_notice_is_announced_live_and_pushed_to_the_communitys_verified_residents(world):
    notice = await draft(world, {**WATER, "urgent": True, "title": "燃气泄漏，请勿用火"})
    await act(world, notice["id"], "publish", Role.PROPERTY)

    [event] = await LiveEvent.select().where(LiveEvent.topic == "notice")
    assert event["community"] == world.home
    assert msgspec.json.decode(event["payload"]) == {
        "id": notice["id"],
        "kind": "general",
        "title": "燃气泄漏，请勿用火",
        "author_label": "property",
        "urgent": True,
    }
    residents = await (
        Residency.select(Residency.account)
        .where(
            (Residency.community == world.home)
            & (Residency.status == ResidencyStatus.VERIFIED)
            & Residency.account.is_not_null()
        )
        .output(as_list=True)
    )
    rows = await PushOutbox.select().order_by(PushOutbox.account)
    assert residents and [r["account"] for r in rows] == sorted(set(residents))
    message = msgspec.json.decode(rows[0]["message"])
    assert message["url"] == f"/notices/{notice['id']}" and message["urgency"] == "high"
    assert message["title"] == "燃气泄漏，请勿用火"


async def test_a_general_notice_that_is_not_urgent_pushes_nothing(world):
    notice = await draft(world, WATER)
    await act(world, notice["id"], "publish", Role.PROPERTY)
    assert await LiveEvent.count().where(LiveEvent.topic == "notice") == 1
    assert await PushOutbox.count() == 0
