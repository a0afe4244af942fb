"""Client addresses behind proxies, JSON depth and plain text: the edge's pure parts."""

from __future__ import annotations

import pytest

from backend.errors import Invalid
from backend.guards import json_depth
from backend.net import client_address
from backend.settings import from_env
from backend.text import plain_text

PROXIES = from_env({"ANJU_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1, ::1"}).trusted_networks


@pytest.mark.parametrize(
    "peer,forwarded,client",
    [
        ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),  # untrusted peer: its header is the client's own claim
        ("192.0.2.1", ["198.51.100.7"], "198.51.100.7"),
        ("192.0.2.1", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),  # made-up hops on the left are ignored
        (
            "192.0.2.1",
            ["198.51.100.7, 10.1.1.1", "10.2.2.2"],
            "198.51.100.7",
        ),  # several headers, inner proxies
        ("::1", ["2001:db8::5"], "2001:db8::5"),
        ("192.0.2.1", [], "192.0.2.1"),  # a trusted peer without the header is the client itself
        ("192.0.2.1", ["10.3.3.3"], "10.3.3.3"),  # every hop trusted: the farthest one
    ],
)
def test_the_client_is_the_right_most_address_no_trusted_proxy_vouches_for(peer, forwarded, client):
    assert client_address(peer, forwarded, PROXIES) == client


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address("10.0.0.1", ["1.2.3.4"], ()) == "10.0.0.1"


@pytest.mark.parametrize(
    "body,depth",
    [
        (b'{"a": 1}', 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets inside strings do not count
        (b'{"a": "quote \\" [[[["}', 1),
        (b"[" * 1000 + b"]" * 1000, 1000),
    ],
)
def test_json_depth(body, depth):
    assert json_depth(body) == depth


def test_plain_text_keeps_names_in_any_script_and_trims_them():
    assert plain_text("  Zoë 赵子涵-O'Brien ", "name") == "Zoë 赵子涵-O'Brien"


@pytest.mark.parametrize(
    "char", ["\x00", "\t", "\x7f", "\u200b", "\u200d", "\u202e", "\u2028", "\ufeff", "\ue000"]
)
def test_plain_text_refuses_invisible_and_control_characters(char):
    with pytest.raises(Invalid) as refused:
        plain_text(f"a{char}b", "hukou_address")
    assert refused.value.field == "hukou_address" and refused.value.code == "invalid_characters"
