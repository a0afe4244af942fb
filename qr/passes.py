"""Visitor pass tokens: what a door device verifies offline with only its community's public key.

A token is a fixed binary layout, signed with the community's Ed25519 key, in base32 (upper case,
no padding), so the whole QR is in alphanumeric mode::

    version u8 | pass id u32 | community u32 | valid from u32 | valid until u32 | uses u16
    | door count u8 | door ids u32 each | Ed25519 signature (64 bytes)

Times are Unix seconds. A pass for two doors is 92 bytes, 148 characters: a version 6 code at
level M. The server stays the authority for revocation and uses left; the token says what the
pass allowed when it was signed.
"""

from __future__ import annotations

import base64
import binascii
import struct
from datetime import UTC, datetime
from enum import StrEnum

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VERSION = 1
_HEAD = struct.Struct(">BIIIIHB")
_DOOR = struct.Struct(">I")
SIGNATURE_BYTES = 64
MAX_DOORS = 16


class Refusal(StrEnum):
    """Why a door refuses a presented token; shown to the guard as is (i18n in the PWA)."""

    TAMPERED = "tampered"  # not signed by this community's key, or not a pass token at all
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_DOOR = "wrong_door"


class Claims(msgspec.Struct, frozen=True):
    pass_id: int
    community: int
    doors: tuple[int, ...]
    valid_from: datetime
    valid_until: datetime
    uses: int


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _pack(claims: Claims) -> bytes:
    if not 0 < len(claims.doors) <= MAX_DOORS:
        raise ValueError(f"a pass opens 1 to {MAX_DOORS} doors")
    head = _HEAD.pack(
        VERSION,
        claims.pass_id,
        claims.community,
        _seconds(claims.valid_from),
        _seconds(claims.valid_until),
        claims.uses,
        len(claims.doors),
    )
    return head + b"".join(_DOOR.pack(door) for door in claims.doors)


def _unpack(body: bytes) -> Claims | None:
    if len(body) < _HEAD.size:
        return None
    version, pass_id, community, start, end, uses, count = _HEAD.unpack_from(body)
    if version != VERSION or len(body) != _HEAD.size + count * _DOOR.size:
        return None
    doors = tuple(_DOOR.unpack_from(body, _HEAD.size + i * _DOOR.size)[0] for i in range(count))
    return Claims(
        pass_id=pass_id,
        community=community,
        doors=doors,
        valid_from=datetime.fromtimestamp(start, UTC),
        valid_until=datetime.fromtimestamp(end, UTC),
        uses=uses,
    )


def sign(claims: Claims, key: Ed25519PrivateKey) -> str:
    body = _pack(claims)
    return base64.b32encode(body + key.sign(body)).decode().rstrip("=")


def public_key(raw: bytes) -> Ed25519PublicKey:
    """A community's verifying key from its 32 raw bytes (as devices are provisioned with it)."""
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(token: str, key: Ed25519PublicKey, door_id: int, now: datetime) -> Claims | Refusal:
    """The pass's claims if ``token`` opens ``door_id`` at ``now``; otherwise why not. No network."""
    try:
        raw = base64.b32decode(token.strip().upper() + "=" * (-len(token.strip()) % 8))
    except (binascii.Error, ValueError):
        return Refusal.TAMPERED
    if len(raw) <= SIGNATURE_BYTES:
        return Refusal.TAMPERED
    body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    try:
        key.verify(signature, body)
    except InvalidSignature:
        return Refusal.TAMPERED
    claims = _unpack(body)
    if claims is None:
        return Refusal.TAMPERED
    if now < claims.valid_from:
        return Refusal.NOT_YET_VALID
    if now >= claims.valid_until:
        return Refusal.EXPIRED
    if door_id not in claims.doors:
        return Refusal.WRONG_DOOR
    return claims
