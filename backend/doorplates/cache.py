"""The scan cache: what a plate's statement fetched, kept for a short while in this process.

One PostgreSQL round trip per scan alone caps a scan at ≈ a fifth of a trivial request's
throughput (bench/scan_floor.py); most scans re-read plates that have not changed. The rows are
kept as fetched, sealed fields still sealed. Who may see what is still decided per request
(roles/), as are the caller's session and the audit entry of the read; what one kind of viewer
sees of the rows (unsealed and projected: most of a scan's work) is computed once and kept with
them (:meth:`Fetched.seen_by`), dropped with them. Unsealed values thus stay in the process's
memory while their plate is kept, beside the root key that unseals them anyway.

Freshness rests on invalidation, not on the expiry. Every write that changes what the statement
reads announces its communities after it commits (``backend.live.wakeup.changed``) and every
process drops their plates. Entries are kept only while the process hears every announcement
(the wake-up's :class:`~backend.live.wakeup.Follower`), and a fetch that overlapped one is not
kept, as it may have read the rows before that commit. The expiry is the last resort against an
announcement lost on its way (a writer that could not reach Redis while the readers could).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

Rows = list[dict[str, Any]]


class Fetched(list):
    """A statement's rows, and what each kind of viewer sees of them once asked (shared, read-only)."""

    __slots__ = ("_seen",)

    def __init__(self, rows: Rows) -> None:
        super().__init__(rows)
        self._seen: dict[Hashable, Any] = {}

    def seen_by(self, viewer: Hashable, derive: Callable[[], Any]) -> Any:
        """``derive()``'s result for ``viewer``, computed on the first call only: it must depend on
        the rows and the viewer alone, and callers must not modify it."""
        if viewer not in self._seen:
            self._seen[viewer] = derive()
        return self._seen[viewer]


class ScanCache:
    """At most ``size`` results (least recently used go first), none older than ``seconds``.

    Results are shared between requests: callers read them and never modify them. A result
    without rows (an unknown plate) is not kept.
    """

    def __init__(self, size: int, seconds: float) -> None:
        self._size, self._seconds = size, seconds
        self._entries: OrderedDict[Hashable, tuple[float, int, Fetched]] = (
            OrderedDict()
        )  # expiry, community, rows
        self._hearing = False
        self._changes = 0  # changes heard so far: a fetch during which one came is not kept

    def __len__(self) -> int:
        return len(self._entries)

    async def rows(self, key: Hashable, fetch: Callable[[], Awaitable[Rows]]) -> Fetched:
        """The kept result for ``key``, else ``fetch()``'s (kept if it has rows); rows carry ``community_id``."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            self._entries.move_to_end(key)
            return entry[2]
        self._entries.pop(key, None)
        changes = self._changes
        rows = Fetched(await fetch())
        if rows and self._hearing and changes == self._changes and self._size:
            self._entries[key] = (time.monotonic() + self._seconds, rows[0]["community_id"], rows)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return rows

    def changed(self, communities: frozenset[int]) -> None:
        self._changes += 1
        for key in [key for key, (_, community, _) in self._entries.items() if community in communities]:
            del self._entries[key]

    def hearing(self, on: bool) -> None:
        """Nothing kept from before an outage of the announcements, nothing kept during one."""
        self._changes += 1
        self._entries.clear()
        self._hearing = on
