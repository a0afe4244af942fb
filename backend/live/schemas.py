"""What the push API takes and gives (subscriptions as the browser's PushSubscription.toJSON())."""

from __future__ import annotations

from typing import Annotated

import msgspec

Base64Url = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+=*$")]


class SubscriptionKeys(msgspec.Struct, frozen=True):
    p256dh: Base64Url
    auth: Base64Url


class SubscriptionIn(msgspec.Struct, frozen=True, rename="camel"):
    endpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    keys: SubscriptionKeys
    expiration_time: float | None = None  # the browser sends it; push services rarely set it


class SubscriptionRef(msgspec.Struct, frozen=True):
    endpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class PushKey(msgspec.Struct, frozen=True):
    """The applicationServerKey for PushManager.subscribe()."""

    public_key: str
