"""Notices (信息发布): drafts, their reviews, and who has read them."""

from enum import StrEnum

from piccolo.columns import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.accounts.tables import Account
from backend.registry.tables import Community


class NoticeKind(StrEnum):
    GENERAL = "general"  # 通知公告
    ACTIVITY = "activity"  # 社区活动
    PROPERTY = "property"  # 物业通知
    SECURITY = "security"  # 治安
    POLICE_ALERT = "police_alert"  # 警情通告
    POLICY = "policy"  # 政策宣传


# The seed's rule: policy and police content is published only after the community and the
# community police have both reviewed it.
REVIEWED_KINDS = frozenset({NoticeKind.SECURITY, NoticeKind.POLICE_ALERT, NoticeKind.POLICY})


class NoticeStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"  # both reviewers approved: ready to publish
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class Notice(Table):
    community = ForeignKey(Community, null=False, index=True)
    kind = Varchar(length=20, choices=NoticeKind)
    title = Varchar(length=100)
    body = Text()
    urgent = Boolean(default=False)
    author = ForeignKey(Account, null=False)
    # Who the residents see as the publisher: property, committee (业委会, published by property
    # staff on its behalf), community or police.
    author_label = Varchar(length=20)
    status = Varchar(length=10, choices=NoticeStatus, default=NoticeStatus.DRAFT, index=True)
    # This review round's approvals: the approving account of each side, cleared on a return.
    community_approval = Integer(null=True, default=None)
    police_approval = Integer(null=True, default=None)
    publish_at = Timestamptz(null=True, default=None)
    published_at = Timestamptz(null=True, default=None)
    withdrawn_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class NoticeReview(Table):
    """A reviewer's verdict, with its comment: the review history the author reads."""

    notice = ForeignKey(Notice, null=False, index=True)
    reviewer = ForeignKey(Account, null=False)
    side = Varchar(length=10)  # community or police
    verdict = Varchar(length=10)  # approve or return
    comment = Varchar(length=500, default="")
    at = Timestamptz(default=TimestamptzNow())


class NoticeRead(Table):
    """A read receipt: the first time an account opened a published notice."""

    notice = ForeignKey(Notice, null=False, index=True)
    account = ForeignKey(Account, null=False)
    slot = Varchar(length=30, unique=True)  # "notice:account": one receipt each
    read_at = Timestamptz(default=TimestamptzNow())
