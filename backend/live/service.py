"""The rules of the live stream and of push subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

from litestar.response import ServerSentEventMessage

from backend.audit import service as audit
from backend.db import transaction
from backend.errors import DomainError, Invalid
from backend.ids import MAX_ID
from backend.live import push, stream
from backend.live.runtime import Live
from backend.live.schemas import PushKey, SubscriptionIn, SubscriptionRef
from backend.live.tables import PushSubscription
from backend.registry.service import community_target
from backend.settings import Settings
from roles import Action, Principal, authorize

HEARTBEAT_SECONDS = 15.0
# Topics that belong to a household, not to the community's board (an intercom call to a flat):
# announced in the community's stream, but only the household's own stream carries them.
PRIVATE_TOPICS = frozenset({"call"})
SUBSCRIPTIONS_PER_ACCOUNT = 10  # each message is sent to every one: a bound on what one account costs


class NotAcceptable(DomainError):
    status = 406


async def watch(
    live: Live, who: Principal, community_id: int, *, accept: str, last_event_id: str | None
) -> AsyncIterator[ServerSentEventMessage]:
    """A community's live stream, for the staff who watch it (audited: events may name people)."""
    authorize(who, Action.WATCH_LIVE, await community_target(community_id))
    if "text/event-stream" not in accept:  # a plain GET gets an answer, not a stream that never ends
        raise NotAcceptable("stream_only", "This is an event stream: send Accept: text/event-stream")
    after = _event_id(last_event_id)
    await audit.record_read(who, "watch_live", f"community:{community_id}", community=community_id)
    # A stream outlives no access token: the client comes back with a fresh one and its Last-Event-ID.
    lifetime = live.settings.access_token_minutes * 60
    return stream.sse(
        live.hub,
        community_id,
        after,
        heartbeat=HEARTBEAT_SECONDS,
        lifetime=lifetime,
        keep=lambda event: event.topic not in PRIVATE_TOPICS,
    )


def _event_id(header: str | None) -> int | None:
    if header is None or header == "":
        return None
    if not header.isascii() or not header.isdigit() or int(header) > MAX_ID:
        raise Invalid("bad_last_event_id", "Last-Event-ID must be an event id", field="Last-Event-ID")
    return int(header)


def push_key(live: Live) -> PushKey:
    return PushKey(public_key=live.public_key)


async def subscribe(settings: Settings, who: Principal, data: SubscriptionIn, ip: str) -> None:
    """Keep this browser's subscription for the caller (moving it over if another account had it)."""
    authorize(who, Action.MANAGE_OWN_PUSH)
    push.check_endpoint(data.endpoint, settings)
    push.check_keys(data.keys.p256dh, data.keys.auth)
    async with transaction(PushSubscription._meta.db):
        await PushSubscription.insert(
            PushSubscription(
                account=who.account_id,
                endpoint=data.endpoint,
                p256dh=data.keys.p256dh,
                auth=data.keys.auth,
                created_at=datetime.now(UTC),
            )
        ).on_conflict(
            target=PushSubscription.endpoint,
            action="DO UPDATE",
            values=[
                PushSubscription.account,
                PushSubscription.p256dh,
                PushSubscription.auth,
                PushSubscription.created_at,
            ],
        )
        await _keep_newest(who.account_id)
        await audit.record(
            who, "push_subscribe", f"account:{who.account_id}", ip=ip, detail=_host(data.endpoint)
        )


async def unsubscribe(who: Principal, data: SubscriptionRef, ip: str) -> None:
    """Forget one of the caller's subscriptions (someone else's endpoint changes nothing, silently)."""
    authorize(who, Action.MANAGE_OWN_PUSH)
    async with transaction(PushSubscription._meta.db):
        deleted = (
            await PushSubscription.delete()
            .where(
                (PushSubscription.endpoint == data.endpoint) & (PushSubscription.account == who.account_id)
            )
            .returning(PushSubscription.id)
        )
        if deleted:
            await audit.record(
                who, "push_unsubscribe", f"account:{who.account_id}", ip=ip, detail=_host(data.endpoint)
            )


async def _keep_newest(account: int) -> None:
    kept = (
        PushSubscription.select(PushSubscription.id)
        .where(PushSubscription.account == account)
        .order_by(PushSubscription.created_at, ascending=False)
        .order_by(PushSubscription.id, ascending=False)
        .limit(SUBSCRIPTIONS_PER_ACCOUNT)
    )
    newest = [row["id"] for row in await kept]
    await PushSubscription.delete().where(
        (PushSubscription.account == account) & PushSubscription.id.not_in(newest)
    )


def _host(endpoint: str) -> dict[str, str]:
    """What the audit keeps of an endpoint: its push service, not the capability URL itself."""
    return {"push_service": urlsplit(endpoint).hostname or ""}
