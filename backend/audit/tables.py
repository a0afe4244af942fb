from piccolo.columns import JSON, BigInt, Integer, Timestamptz, Varchar
from piccolo.table import Table


class AuditEntry(Table):
    """Append-only and hash-chained: each row's hash covers its content and the previous hash."""

    seq = BigInt(unique=True)
    at = Timestamptz()
    actor = Integer(null=True, default=None)
    actor_role = Varchar(length=20, default="")
    action = Varchar(length=50)
    subject = Varchar(length=100)
    community = Integer(null=True, default=None, index=True)
    ip = Varchar(length=45, default="")
    detail = JSON(default="{}")
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64)
