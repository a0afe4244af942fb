"""The cache of verified access tokens stays bounded and never serves an expired token."""

from __future__ import annotations

import time

from backend.accounts.verified import VerifiedTokens, has_expired


def claims(seconds_left: float) -> dict:
    return {"exp": int(time.time() + seconds_left), "sub": "1"}


def test_the_cache_is_bounded_and_drops_the_oldest_first():
    cache = VerifiedTokens(capacity=3)
    for name in "abcd":
        cache.remember(name, claims(600))
    assert len(cache) == 3
    assert cache.get("a") is None and all(cache.get(name) for name in "bcd")


def test_a_full_cache_drops_expired_tokens_before_live_ones():
    cache = VerifiedTokens(capacity=3)
    cache.remember("live", claims(600))
    cache.remember("expired", claims(-1))
    cache.remember("also-live", claims(600))
    cache.remember("new", claims(600))
    assert cache.get("expired") is None
    assert all(cache.get(name) for name in ("live", "also-live", "new"))


def test_expiry_follows_pyjwt_from_the_exp_second_on():
    now = time.time()
    assert has_expired({"exp": int(now)}, now=int(now))
    assert not has_expired({"exp": int(now) + 1}, now=int(now))
