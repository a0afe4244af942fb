"""The scan cache's bounds: its size, its age, and what it refuses to keep."""

from __future__ import annotations

import asyncio

from backend.doorplates.cache import ScanCache


class Fetches:
    """A statement that counts its executions and answers one row of ``community``."""

    def __init__(self, community: int = 1) -> None:
        self.community, self.count = community, 0

    async def __call__(self) -> list[dict]:
        self.count += 1
        return [{"community_id": self.community, "n": self.count}]


def hearing(size: int = 10, seconds: float = 30.0) -> ScanCache:
    cache = ScanCache(size, seconds)
    cache.hearing(True)
    return cache


async def test_a_result_is_fetched_once_while_it_is_kept():
    cache, fetch = hearing(), Fetches()
    first = await cache.rows("a", fetch)
    assert await cache.rows("a", fetch) is first and fetch.count == 1


async def test_the_least_recently_used_result_goes_first_beyond_the_size():
    cache, fetch = hearing(size=3), Fetches()
    for key in ("a", "b", "c"):
        await cache.rows(key, fetch)
    await cache.rows("a", fetch)  # used: "b" is now the oldest
    await cache.rows("d", fetch)
    assert len(cache) == 3 and fetch.count == 4
    await cache.rows("a", fetch)
    await cache.rows("c", fetch)
    assert fetch.count == 4
    await cache.rows("b", fetch)
    assert fetch.count == 5


async def test_results_expire():
    cache, fetch = hearing(seconds=0.05), Fetches()
    await cache.rows("a", fetch)
    await cache.rows("a", fetch)
    assert fetch.count == 1
    await asyncio.sleep(0.1)
    await cache.rows("a", fetch)
    assert fetch.count == 2


async def test_a_size_or_age_of_zero_keeps_nothing():
    for cache in (hearing(size=0), hearing(seconds=0)):
        fetch = Fetches()
        await cache.rows("a", fetch)
        await cache.rows("a", fetch)
        assert fetch.count == 2


async def test_nothing_is_kept_unless_every_change_is_heard():
    cache, fetch = ScanCache(10, 30.0), Fetches()
    await cache.rows("a", fetch)
    await cache.rows("a", fetch)
    assert fetch.count == 2 and len(cache) == 0
    cache.hearing(True)
    await cache.rows("a", fetch)
    cache.hearing(False)  # the announcements stopped: what was kept may go stale unnoticed
    assert len(cache) == 0


async def test_a_change_drops_its_communities_results_only():
    cache, home, other = hearing(), Fetches(1), Fetches(2)
    await cache.rows("home", home)
    await cache.rows("other", other)
    cache.changed(frozenset({1, 3}))
    await cache.rows("home", home)
    await cache.rows("other", other)
    assert home.count == 2 and other.count == 1


async def test_a_fetch_a_change_overlapped_is_not_kept():
    cache = hearing()
    fetch = Fetches(2)

    async def changed_meanwhile() -> list[dict]:
        cache.changed(frozenset({1}))  # any community: the fetch may have read before that commit
        return await fetch()

    await cache.rows("a", changed_meanwhile)
    await cache.rows("a", fetch)
    assert fetch.count == 2


async def test_unknown_plates_are_not_kept():
    cache = hearing()
    calls = []

    async def nothing() -> list[dict]:
        calls.append(1)
        return []

    await cache.rows("a", nothing)
    await cache.rows("a", nothing)
    assert len(calls) == 2


async def test_what_a_viewer_sees_is_derived_once_per_kept_result_and_viewer():
    cache, fetch, derived = hearing(), Fetches(), []

    def seen(viewer: str):
        return lambda: derived.append(viewer) or f"{viewer}'s view"

    rows = await cache.rows("a", fetch)
    assert rows.seen_by("police", seen("police")) == "police's view"
    assert rows.seen_by("staff", seen("staff")) == "staff's view"
    again = await cache.rows("a", fetch)
    assert again.seen_by("police", seen("police")) == "police's view"
    assert derived == ["police", "staff"]
    cache.changed(frozenset({1}))  # the rows go, and what was derived from them with them
    fresh = await cache.rows("a", fetch)
    assert fresh.seen_by("police", seen("police")) == "police's view" and derived[-1] == "police"
    assert len(derived) == 3
