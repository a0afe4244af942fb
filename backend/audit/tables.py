from piccolo.columns import JSON, BigInt, Integer, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

# Which chain an entry belongs to: its community's id, or one of these two.
DISTRICT_CHAIN = 0  # entries tied to no community: sign-ins, staff accounts, passkeys
LEGACY_CHAIN = -1  # the one global chain written before per-community chains; frozen, still verified


class AuditEntry(Table):
    """Append-only and hash-chained: each row's hash covers its content and the previous hash of its chain."""

    chain = Integer(default=LEGACY_CHAIN)
    seq = BigInt()  # 1, 2, 3, … within the chain
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

    chain_seq = Unique([chain, seq])  # also the index appends look heads up by
