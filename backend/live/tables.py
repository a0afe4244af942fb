"""What the live stream and web push keep: announced events, per-account push messages, subscriptions."""

from piccolo.columns import JSON, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.accounts.tables import Account
from backend.registry.tables import Community


class LiveEvent(Table):
    """One announced event; its id is the stream's event id (``Last-Event-ID`` resumes after it)."""

    community = ForeignKey(Community, null=False, index=True)
    topic = Varchar(length=30)  # "alarm", "notice", …: what the payload is about
    payload = JSON(default="{}")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)  # pruned by age


class PushOutbox(Table):
    """A push message owed to one account, sent to each of its subscriptions once."""

    account = ForeignKey(Account, null=False, index=True)
    message = JSON(default="{}")  # PushMessage
    created_at = Timestamptz(default=TimestamptzNow())
    # When a worker may take it: now when written, the end of a worker's lease while it sends,
    # then the next retry after a failure.
    due_at = Timestamptz(default=TimestamptzNow(), index=True)
    attempts = Integer(default=0)
    delivered = JSON(default="[]")  # ids of the subscriptions already served, so a retry skips them
    sent_at = Timestamptz(null=True, default=None)
    failed_at = Timestamptz(null=True, default=None)  # gave up after the last retry


class PushSubscription(Table):
    """A browser's push subscription (PushSubscription.toJSON()), owned by the account that sent it."""

    account = ForeignKey(Account, null=False, index=True)
    endpoint = Varchar(length=1024, unique=True)
    p256dh = Varchar(length=100)  # the browser's P-256 public key, base64url
    auth = Varchar(length=40)  # the browser's auth secret, base64url
    created_at = Timestamptz(default=TimestamptzNow())
    last_ok_at = Timestamptz(null=True, default=None)
