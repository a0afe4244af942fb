from piccolo.columns import ForeignKey, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.registry.tables import Address, Community


class Doorplate(Table):
    """A QR doorplate: an opaque token fixed to a standard address, revocable."""

    community = ForeignKey(Community, null=False, index=True)
    address = ForeignKey(Address, null=False, index=True)
    token = Varchar(length=32, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_at = Timestamptz(null=True, default=None)
    # Set by the plate's first scan: it hangs where it belongs. Compliance counts installed plates
    # (the standard's 安装率), not printed ones.
    first_scanned_at = Timestamptz(null=True, default=None)
