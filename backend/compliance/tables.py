"""Scores entered by hand: the items no live data can measure (the safety items, anti-climbing bars)."""

from piccolo.columns import DoublePrecision, ForeignKey, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.accounts.tables import Account
from backend.registry.tables import Community


class ComplianceEntry(Table):
    """The latest score the police (or a district admin) entered for one item of a community's sheet;
    each entry is audited, so earlier ones stay in the audit trail."""

    community = ForeignKey(Community, null=False, index=True)
    item = Varchar(length=30)  # "{sheet}:{no}": "safety:9", "standard:1"
    slot = Varchar(length=60, unique=True)  # "{community}:{item}": one current entry per item
    points = DoublePrecision()
    note = Varchar(length=500, default="")
    entered_by = ForeignKey(Account, null=False)
    entered_at = Timestamptz(default=TimestamptzNow())
