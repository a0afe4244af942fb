"""The intercom's edges: a panel's call event in shape, the ICE servers from the settings, who may answer."""

from __future__ import annotations

import pytest

from backend.settings import SettingsError, from_env
from device_bridge import protocol
from device_bridge.protocol import CallAction, CallData, EventType
from roles import Action, Principal, Role, Target, is_allowed


def shaped(data: dict) -> CallData:
    return protocol.shaped(EventType.CALL, data, protocol.DATA_SHAPES[EventType.CALL])


def test_a_ring_and_a_hangup_are_in_shape():
    ring = shaped({"call": "a1b2", "action": "ring", "house": "101", "sdp": "v=0\r\n"})
    assert (ring.action, ring.house) == (CallAction.RING, "101")
    assert shaped({"call": "a1b2", "action": "hangup"}).action is CallAction.HANGUP


@pytest.mark.parametrize(
    "data",
    [
        {"call": "../x", "action": "ring"},  # a call id the panel's commands could not name
        {"call": "", "action": "ring"},
        {"call": "a", "action": "open"},
        {"call": "a", "action": "ring", "house": "1" * 21},
        {"call": "a", "action": "ring", "sdp": "v" * (64 * 1024 + 1)},
    ],
)
def test_a_malformed_call_event_is_refused(data):
    with pytest.raises(protocol.MalformedMessage):
        shaped(data)


def test_ice_servers_come_from_the_settings_with_the_turn_credentials():
    settings = from_env(
        {
            "ANJU_INTERCOM_ICE_URLS": "stun:stun.example.org:3478, turn:turn.example.org:3478",
            "ANJU_INTERCOM_TURN_USERNAME": "anju",
            "ANJU_INTERCOM_TURN_CREDENTIAL": "secret",
        }
    )
    assert settings.ice_servers == [
        {"urls": "stun:stun.example.org:3478"},
        {"urls": "turn:turn.example.org:3478", "username": "anju", "credential": "secret"},
    ]
    assert from_env({}).ice_servers == []  # one LAN: host candidates suffice
    with pytest.raises(SettingsError, match="INTERCOM_ICE_URLS"):
        from_env({"ANJU_INTERCOM_ICE_URLS": "http://stun.example.org"})


def test_only_the_households_members_see_and_answer_its_calls():
    call = Target(community_id=1, house_id=7)
    member = Principal(
        account_id=1, role=Role.RESIDENT, houses=frozenset({7}), home_communities=frozenset({1})
    )
    neighbour = Principal(
        account_id=2, role=Role.RESIDENT, houses=frozenset({8}), home_communities=frozenset({1})
    )
    officer = Principal(account_id=3, role=Role.POLICE, communities=frozenset({1}), passkey_session=True)
    for action in (Action.VIEW_CALLS, Action.ANSWER_CALL):
        assert is_allowed(member, action, call)
        assert not is_allowed(neighbour, action, call)
        assert not is_allowed(officer, action, call)
        assert not is_allowed(Principal(), action, call)
