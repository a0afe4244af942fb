"""The resident's side of the video intercom: the household's calls, answering, hanging up, opening."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_200_OK

from backend.access.schemas import DoorOpened
from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.intercom import service
from backend.intercom.schemas import AnswerIn, CallDetail, CallOut
from backend.net import client_ip
from roles import Action


class IntercomController(Controller):
    tags = ["intercom"]

    @get("/api/houses/{house_id:int}/calls", operation_id="householdCalls", opt=permission(Action.VIEW_CALLS))
    async def calls(self, house_id: PathId, who: Caller) -> list[CallOut]:
        """The household's call log, newest first (missed calls included)."""
        return await service.household_calls(who, house_id)

    @get(
        "/api/houses/{house_id:int}/calls/live",
        operation_id="watchHouseholdCalls",
        opt=permission(Action.VIEW_CALLS),
    )
    async def live(self, house_id: PathId, ctx: Ctx, who: Caller, request: Request) -> ServerSentEvent:
        """Server-sent events of the household's calls (``event: call``); ``Last-Event-ID`` resumes."""
        messages = await service.watch(
            ctx,
            who,
            house_id,
            accept=request.headers.get("accept", ""),
            last_event_id=request.headers.get("last-event-id"),
        )
        return ServerSentEvent(messages)

    @get("/api/calls/{call_id:int}", operation_id="call", opt=permission(Action.VIEW_CALLS))
    async def call(self, call_id: PathId, ctx: Ctx, who: Caller) -> CallDetail:
        """A call, with the panel's WebRTC offer while it rings and the ICE servers to answer with."""
        return await service.call_detail(ctx, who, call_id)

    @post(
        "/api/calls/{call_id:int}/answer",
        status_code=HTTP_200_OK,
        operation_id="answerCall",
        opt=permission(Action.ANSWER_CALL),
    )
    async def answer(
        self, call_id: PathId, data: JSONBody[AnswerIn], ctx: Ctx, who: Caller, request: Request
    ) -> CallOut:
        """Answer (the phone's SDP answer goes to the panel); 409 if another member answered first."""
        return await service.answer(ctx, who, call_id, data.sdp, client_ip(request))

    @post(
        "/api/calls/{call_id:int}/hangup",
        status_code=HTTP_200_OK,
        operation_id="hangUpCall",
        opt=permission(Action.ANSWER_CALL),
    )
    async def hang_up(self, call_id: PathId, ctx: Ctx, who: Caller, request: Request) -> CallOut:
        """Decline a ringing call or end one's answered call; the panel is told."""
        return await service.hang_up(ctx, who, call_id, client_ip(request))

    @post(
        "/api/calls/{call_id:int}/open",
        status_code=HTTP_200_OK,
        operation_id="openDoorForCall",
        opt=permission(Action.ANSWER_CALL),
    )
    async def open(self, call_id: PathId, ctx: Ctx, who: Caller, request: Request) -> DoorOpened:
        """Open the panel's door for the caller (the member who answered, during the call)."""
        return await service.open_door(ctx, who, call_id, client_ip(request))
