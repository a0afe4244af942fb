"""The uplink outbox: each standard record owed to the police platform, written with its source record."""

from piccolo.columns import JSON, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.registry.tables import Community


class UplinkRecord(Table):
    """One standard row for one table, sent once (``key`` is its idempotency key, unique).

    ``state``: ``pending`` until the target accepts it (``sent``), or ``rejected``: by us when it
    fails the standard (``problems``), or by the target for a reason (``last_error``). A rejected
    row is never sent (again).
    """

    # "{table_key}/{record_key}" ("{target}:{table_key}/{record_key}" for another target than the
    # platform): what the target deduplicates by, unique across targets.
    key = Varchar(length=160, unique=True)
    target = Varchar(length=20, default="platform")  # outbox.TARGETS: who it is owed to
    table_key = Varchar(length=40)  # data_standard.json's key (emergency_alarm…), or viid.RESOURCES' (Faces…)
    record_key = Varchar(length=100)  # our stable id of the source record, e.g. "alarm:123"
    community = ForeignKey(Community, null=False, index=True)
    payload = JSON(default="{}")  # the standard row: DATE as "YYYY-MM-DD HH:MM:SS" (Asia/Shanghai)
    state = Varchar(length=10, default="pending")
    problems = JSON(default="[]")  # [{field, reason, detail}] when rejected by the standard check
    attempts = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
    # When a sender may take it: now when written, then the next retry after a failure (pulled
    # forward to now as soon as the target accepts anything again: the outage is over).
    due_at = Timestamptz(default=TimestamptzNow(), index=True)
    claimed_until = Timestamptz(null=True, default=None)  # a sender's lease while it sends
    sent_at = Timestamptz(null=True, default=None)
    failed_at = Timestamptz(null=True, default=None)  # the latest failed attempt (or the rejection)
    last_error = Varchar(length=300, default="")
