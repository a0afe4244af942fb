"""Who to tell: the staff accounts of given roles working in a community (or in its whole district).

Called inside another domain's write transaction (an alarm raised in a bridge batch), so it reads
through that transaction's :class:`~device_bridge.store.Writer`.
"""

from __future__ import annotations

from collections.abc import Collection

from device_bridge.store import Writer
from roles import Role


def _staff_in(roles: int) -> str:
    return (
        "SELECT DISTINCT a.id FROM account a JOIN staff_scope s ON s.account = a.id "
        "JOIN community c ON c.id = {} "
        f"WHERE a.active = {{}} AND a.role IN ({', '.join(['{}'] * roles)}) "
        "AND (s.community = c.id OR s.district = c.district) ORDER BY a.id"
    )


async def staff_accounts(writer: Writer, community: int, roles: Collection[Role]) -> list[int]:
    """Active accounts of ``roles`` scoped to ``community`` or to its district."""
    if not roles:
        return []
    rows = await writer.fetch(_staff_in(len(roles)), community, True, *(role.value for role in sorted(roles)))
    return [row["id"] for row in rows]
