"""Access tokens whose signature was already checked, so a token is verified once, not per request.

Only the signature and the fixed claims are remembered. What can change while a token lives is
still checked on every request by the caller: its expiry (here, against the clock) and whether
its session and account are still live (``service._check_session``), so a cached token is
refused on the very next request after sign-out, disabling or a role change.
"""

from __future__ import annotations

import time
from typing import Any

MAX_TOKENS = 4096  # about 4 MB at ~1 kB a token with its claims; enough for every staff phone


class VerifiedTokens:
    """A bounded map token → claims; the oldest entry goes first when full."""

    def __init__(self, capacity: int = MAX_TOKENS) -> None:
        self._capacity = capacity
        self._claims: dict[str, dict[str, Any]] = {}

    def get(self, token: str) -> dict[str, Any] | None:
        """The token's claims if it was verified before; None if never seen or evicted."""
        return self._claims.get(token)

    def remember(self, token: str, claims: dict[str, Any]) -> None:
        if len(self._claims) >= self._capacity:
            self._drop_expired()
        while len(self._claims) >= self._capacity:
            del self._claims[next(iter(self._claims))]  # dicts keep insertion order: oldest first
        self._claims[token] = claims

    def forget(self, token: str) -> None:
        self._claims.pop(token, None)

    def __len__(self) -> int:
        return len(self._claims)

    def _drop_expired(self) -> None:
        now = time.time()
        for token in [t for t, claims in self._claims.items() if has_expired(claims, now)]:
            del self._claims[token]


def has_expired(claims: dict[str, Any], now: float | None = None) -> bool:
    """PyJWT's rule: a token is expired from its ``exp`` second on (no leeway)."""
    return (time.time() if now is None else now) >= claims["exp"]
