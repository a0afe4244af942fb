from __future__ import annotations

from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_204_NO_CONTENT

from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.live import service
from backend.live.schemas import PushKey, SubscriptionIn, SubscriptionRef
from backend.net import client_ip
from roles import Action


class LiveController(Controller):
    tags = ["live"]

    @get(
        "/api/communities/{community_id:int}/live",
        operation_id="watchLive",
        opt=permission(Action.WATCH_LIVE),
    )
    async def watch(self, community_id: PathId, ctx: Ctx, who: Caller, request: Request) -> ServerSentEvent:
        """Server-sent events of the community (``id``: the event id, ``event``: its topic, ``data``:
        its JSON payload). Needs ``Accept: text/event-stream``; ``Last-Event-ID`` resumes after an id."""
        messages = await service.watch(
            ctx.live,
            who,
            community_id,
            accept=request.headers.get("accept", ""),
            last_event_id=request.headers.get("last-event-id"),
        )
        return ServerSentEvent(messages)

    @get("/api/push/key", operation_id="pushKey")
    async def key(self, ctx: Ctx) -> PushKey:
        """The VAPID public key to subscribe with (PushManager.subscribe's applicationServerKey)."""
        return service.push_key(ctx.live)

    @post(
        "/api/push/subscriptions",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="subscribePush",
        opt=permission(Action.MANAGE_OWN_PUSH),
    )
    async def subscribe(
        self, data: JSONBody[SubscriptionIn], ctx: Ctx, who: Caller, request: Request
    ) -> None:
        """Send the caller's notifications to this browser (its PushSubscription.toJSON())."""
        await service.subscribe(ctx.settings, who, data, client_ip(request))

    @delete(
        "/api/push/subscriptions",
        operation_id="unsubscribePush",
        opt=permission(Action.MANAGE_OWN_PUSH),
    )
    async def unsubscribe(self, data: JSONBody[SubscriptionRef], who: Caller, request: Request) -> None:
        """Stop sending to this browser."""
        await service.unsubscribe(who, data, client_ip(request))
