"""Visitor calls from unit-door panels (可视对讲, the seed's 访客系统呼叫)."""

from enum import StrEnum

from piccolo.columns import JSON, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.accounts.tables import Account
from backend.devices.tables import Device
from backend.registry.tables import Community, House, Unit


class CallState(StrEnum):
    RINGING = "ringing"  # a household member's phones ring (one member at a time, in ring order)
    ANSWERED = "answered"  # a member answered: video and talk flow between the panel and that phone
    OPENED = "opened"  # the member who answered opened the door
    MISSED = "missed"  # nobody answered (or the visitor hung up first)
    ENDED = "ended"  # hung up after an answer, or declined


LIVE = (CallState.RINGING, CallState.ANSWERED, CallState.OPENED)


class IntercomCall(Table):
    """One visitor call from a panel to a flat; the household's call log."""

    community = ForeignKey(Community, null=False, index=True)
    device = ForeignKey(Device, null=False, index=True)  # the panel
    unit = ForeignKey(Unit, null=True, default=None)
    house = ForeignKey(House, null=True, default=None, index=True)  # null: no such flat at this unit
    room = Varchar(length=20, default="")  # the room number the visitor keyed in
    panel_call = Varchar(length=64)  # the panel's own id of the call, named in its commands
    key = Varchar(length=100, unique=True)  # the ring event's key: a redelivered ring is one call
    state = Varchar(length=10, choices=CallState, default=CallState.RINGING, index=True)
    offer = Text(default="")  # the panel's WebRTC offer (SDP); cleared once the call is over
    ring_order = JSON(default="[]")  # the members' account ids, in the order they are rung
    ring_index = Integer(default=0)  # who in ring_order rings now
    ringing = Integer(null=True, default=None)  # that member's account id, while ringing
    ring_until = Timestamptz(null=True, default=None)  # when the ring moves on to the next member
    answered_by = ForeignKey(Account, null=True, default=None)
    started_at = Timestamptz(default=TimestamptzNow())
    answered_at = Timestamptz(null=True, default=None)
    opened_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
