"""Visitor pass tokens (qr/passes.py): verified offline with only the community's public key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.keys import Keys
from qr import passes
from qr.passes import Claims, Refusal

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
GATE, UNIT, OTHER_DOOR = 3, 17, 18
KEYS = Keys(b"test-secret-" + b"x" * 32)


def claims(**changes) -> Claims:
    fields = {
        "pass_id": 42,
        "community": 1,
        "doors": (GATE, UNIT),
        "valid_from": NOW - timedelta(hours=1),
        "valid_until": NOW + timedelta(hours=5),
        "uses": 4,
    }
    return Claims(**(fields | changes))


def token(**changes) -> str:
    return passes.sign(claims(**changes), KEYS.pass_key(1))


def public(community: int = 1):
    return passes.public_key(KEYS.pass_public_key(community))


def test_a_valid_pass_opens_each_of_its_doors_and_returns_its_claims():
    for door in (GATE, UNIT):
        assert passes.verify(token(), public(), door, NOW) == claims()


@pytest.mark.parametrize("position", [0, 1, 5, 9, 20, 30, -1, -40])
def test_a_changed_byte_anywhere_is_tampered(position):
    raw = bytearray(base64.b32decode(token() + "=" * (-len(token()) % 8)))
    raw[position] ^= 0x01
    forged = base64.b32encode(bytes(raw)).decode().rstrip("=")
    assert passes.verify(forged, public(), GATE, NOW) is Refusal.TAMPERED


def test_a_pass_that_adds_a_door_to_its_claims_is_tampered():
    """The holder re-packs the claims with another door but cannot sign them."""
    genuine = token()
    forged = passes.sign(claims(doors=(GATE, UNIT, OTHER_DOOR)), Ed25519PrivateKey.generate())
    assert passes.verify(genuine, public(), OTHER_DOOR, NOW) is Refusal.WRONG_DOOR
    assert passes.verify(forged, public(), OTHER_DOOR, NOW) is Refusal.TAMPERED


def test_expired_and_not_yet_valid_are_refused():
    assert passes.verify(token(), public(), GATE, NOW + timedelta(hours=5)) is Refusal.EXPIRED
    assert passes.verify(token(), public(), GATE, NOW - timedelta(hours=2)) is Refusal.NOT_YET_VALID


def test_a_door_not_on_the_pass_is_refused():
    assert passes.verify(token(), public(), OTHER_DOOR, NOW) is Refusal.WRONG_DOOR


def test_another_communitys_key_refuses_it():
    assert KEYS.pass_public_key(1) != KEYS.pass_public_key(2)
    assert passes.verify(token(), public(2), GATE, NOW) is Refusal.TAMPERED
    other_root = Keys(b"another-secret-" + b"y" * 32)
    assert (
        passes.verify(token(), passes.public_key(other_root.pass_public_key(1)), GATE, NOW)
        is Refusal.TAMPERED
    )


@pytest.mark.parametrize("junk", ["", "AAAA", "not base32 at all!", "门禁", "A" * 400, token()[:-8]])
def test_junk_is_tampered_never_an_exception(junk):
    assert passes.verify(junk, public(), GATE, NOW) is Refusal.TAMPERED


def test_the_token_is_a_small_alphanumeric_qr():
    """Two doors: 92 bytes, 148 base32 characters, a version 6 code at level M."""
    value = token()
    assert len(value) == 148 and value == value.upper()
    code = segno.make(value, error="m")
    assert code.mode == "alphanumeric" and code.version == 6


def test_lower_case_as_some_scanners_return_it_still_verifies():
    assert passes.verify(token().lower(), public(), GATE, NOW) == claims()
