from __future__ import annotations

from litestar import Controller, Request, get, post, put
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from backend.notices import service
from backend.notices.display import Screens
from backend.notices.schemas import CommunityFeed, Feed, NoticeIn, NoticeOut, PublishIn, Receipts, ReviewIn
from roles import Action

COMMUNITY = "/api/communities/{community_id:int}/notices"
NOTICE = "/api/notices/{notice_id:int}"


class NoticeController(Controller):
    tags = ["notices"]

    @get("/api/notices", operation_id="myNoticeFeeds", opt=permission(Action.OPEN_NOTICES))
    async def my_feeds(self, who: Caller) -> list[CommunityFeed]:
        """The notices of every community the caller lives in or works for, with the unread counts."""
        return await service.my_feeds(who)

    @get(COMMUNITY, operation_id="noticeFeed", opt=permission(Action.READ_NOTICES))
    async def feed(self, community_id: PathId, who: Caller) -> Feed:
        """The community's published notices (信息发布), newest first, with the caller's unread count."""
        return await service.feed(who, community_id)

    @get(f"{COMMUNITY}/desk", operation_id="noticeDesk", opt=permission(Action.WRITE_NOTICES))
    async def desk(self, community_id: PathId, who: Caller) -> list[NoticeOut]:
        """Every notice of the community with its reviews, for its writers and reviewers."""
        return await service.desk(who, community_id)

    @post(
        COMMUNITY,
        status_code=HTTP_201_CREATED,
        operation_id="draftNotice",
        opt=permission(Action.WRITE_NOTICES),
    )
    async def draft(self, community_id: PathId, data: JSONBody[NoticeIn], who: Caller) -> NoticeOut:
        return await service.draft(who, community_id, data)

    @get(NOTICE, operation_id="viewNotice", opt=permission(Action.READ_NOTICES))
    async def view(self, notice_id: PathId, who: Caller) -> NoticeOut:
        """One notice; reading a published one records the caller's read receipt."""
        return await service.view(who, notice_id)

    @put(NOTICE, operation_id="editNotice", opt=permission(Action.WRITE_NOTICES))
    async def edit(self, notice_id: PathId, data: JSONBody[NoticeIn], who: Caller) -> NoticeOut:
        return await service.edit(who, notice_id, data)

    @post(
        f"{NOTICE}/submit",
        status_code=HTTP_200_OK,
        operation_id="submitNotice",
        opt=permission(Action.WRITE_NOTICES),
    )
    async def submit(self, notice_id: PathId, who: Caller) -> NoticeOut:
        return await service.submit(who, notice_id)

    @post(
        f"{NOTICE}/review",
        status_code=HTTP_200_OK,
        operation_id="reviewNotice",
        opt=permission(Action.REVIEW_NOTICES),
    )
    async def review(self, notice_id: PathId, data: JSONBody[ReviewIn], who: Caller) -> NoticeOut:
        return await service.review(who, notice_id, data)

    @post(
        f"{NOTICE}/publish",
        status_code=HTTP_200_OK,
        operation_id="publishNotice",
        opt=permission(Action.WRITE_NOTICES),
    )
    async def publish(self, notice_id: PathId, data: JSONBody[PublishIn], ctx: Ctx, who: Caller) -> NoticeOut:
        return await service.publish(Screens.of(ctx), ctx.keys, who, notice_id, data)

    @post(
        f"{NOTICE}/withdraw",
        status_code=HTTP_200_OK,
        operation_id="withdrawNotice",
        opt=permission(Action.WRITE_NOTICES),
    )
    async def withdraw(self, notice_id: PathId, ctx: Ctx, who: Caller) -> NoticeOut:
        return await service.withdraw(Screens.of(ctx), who, notice_id)

    @get(f"{NOTICE}/receipts", operation_id="noticeReceipts", opt=permission(Action.WRITE_NOTICES))
    async def receipts(self, notice_id: PathId, who: Caller, request: Request) -> Receipts:
        """Who has read the notice, and when (an audited read)."""
        return await service.receipts(who, notice_id, client_ip(request))
