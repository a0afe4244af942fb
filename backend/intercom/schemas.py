from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from backend.intercom.tables import CallState

MAX_SDP = 64 * 1024
Sdp = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SDP)]


class CallOut(msgspec.Struct):
    """A call in the household's log."""

    id: int
    house_id: int
    state: CallState
    panel: str  # the panel's name (1栋1单元可视对讲)
    room: str
    ringing: int | None  # the account rung now, while ringing
    answered_by: int | None
    answered_by_name: str | None
    started_at: dt.datetime
    answered_at: dt.datetime | None
    opened_at: dt.datetime | None
    ended_at: dt.datetime | None


class CallDetail(CallOut):
    """A call with what answering it needs: the panel's offer (while it rings) and the ICE servers."""

    offer: str
    ice_servers: list[dict[str, str]]


class AnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    sdp: Sdp  # the phone's WebRTC answer, ICE candidates included (gathered before it is sent)
