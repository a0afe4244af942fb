"""Short-lived keyed state (one-time codes, challenges, rate limits, session cache): Redis, or in-process."""

from __future__ import annotations

import functools
import logging
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.errors import DomainError

log = logging.getLogger("anju.kv")


class Store(Protocol):
    async def put(self, key: str, value: str, ttl: int) -> None: ...
    async def get(self, key: str) -> str | None: ...
    async def get_many(self, *keys: str) -> list[str | None]: ...
    async def take(self, key: str) -> str | None: ...
    async def delete(self, key: str) -> None: ...
    async def hit(self, key: str, ttl: int) -> int: ...
    async def close(self) -> None: ...


class MemoryStore:
    """For the embedded default: one process, so a dict with expiry times is enough."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, float]] = {}

    def _live(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None or item[1] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[0]

    async def put(self, key: str, value: str, ttl: int) -> None:
        self._items[key] = (value, time.monotonic() + ttl)

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def get_many(self, *keys: str) -> list[str | None]:
        return [self._live(key) for key in keys]

    async def take(self, key: str) -> str | None:
        value = self._live(key)
        self._items.pop(key, None)
        return value

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def hit(self, key: str, ttl: int) -> int:
        current = self._live(key)
        count = int(current or 0) + 1
        expires = self._items[key][1] if current is not None else time.monotonic() + ttl
        self._items[key] = (str(count), expires)
        return count

    async def close(self) -> None:
        self._items.clear()


class StoreUnavailable(DomainError):
    """The short-lived store (Redis) cannot be reached: sign-in must say so, not fail silently."""

    status = 503


def _reachable(method):
    """Redis errors become a clear 503; an outage is logged when it starts and when it ends."""

    @functools.wraps(method)
    async def guarded(self, *args, **kwargs):
        try:
            result = await method(self, *args, **kwargs)
        except (RedisError, OSError) as exc:
            if not self._down:
                self._down = True
                log.error("Redis unreachable: %s", exc)
            raise StoreUnavailable(
                "store_unavailable", "Sign-in and rate limiting are unavailable right now; try again shortly"
            ) from None
        if self._down:
            self._down = False
            log.info("Redis reachable again")
        return result

    return guarded


class RedisStore:
    def __init__(self, url: str, prefix: str = "anju:") -> None:
        self._redis = Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._down = False  # in an outage already logged

    @_reachable
    async def put(self, key: str, value: str, ttl: int) -> None:
        await self._redis.set(self._prefix + key, value, ex=ttl)

    @_reachable
    async def get(self, key: str) -> str | None:
        return await self._redis.get(self._prefix + key)

    @_reachable
    async def get_many(self, *keys: str) -> list[str | None]:
        """One round trip: the per-request session check reads two keys."""
        return await self._redis.mget([self._prefix + key for key in keys])

    @_reachable
    async def take(self, key: str) -> str | None:
        return await self._redis.getdel(self._prefix + key)

    @_reachable
    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    @_reachable
    async def hit(self, key: str, ttl: int) -> int:
        """Fixed-window counter: the window starts at the first hit."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._prefix + key)
            pipe.expire(self._prefix + key, ttl, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def close(self) -> None:
        await self._redis.aclose()


def store_for(redis_url: str, prefix: str = "anju:") -> Store:
    return RedisStore(redis_url, prefix) if redis_url else MemoryStore()
