"""A device's HTTP credentials: its code and its MQTT password (derived from its own secret, so the
signing secret itself never travels), sent as Basic (over TLS) or Digest (MD5, qop=auth, the
scheme ISAPI terminals use for their notification hosts).

Digest nonces are stateless: the time they were issued and a keyed MAC of it, good for
:data:`NONCE_SECONDS`. Replays within that window are the intake's business (event serials).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

import msgspec

from backend.errors import Unauthorized
from backend.keys import Keys

REALM = "anju-devices"
NONCE_SECONDS = 300
DIGEST_FIELD = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]*))')


class Credentials(msgspec.Struct, frozen=True):
    scheme: str  # "basic" or "digest"
    username: str
    fields: dict[str, str]  # Basic: {"password"}; Digest: the header's fields


class DeviceUnauthorized(Unauthorized):
    """401 with a Digest challenge, so a terminal configured for Digest answers it."""

    def __init__(self, keys: Keys, now: float) -> None:
        super().__init__("device_unauthorized", "Unknown device or wrong credentials")
        nonce = _nonce(keys, int(now))
        self.headers = {
            "WWW-Authenticate": f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{nonce}"'
        }


def _nonce(keys: Keys, issued: int) -> str:
    return f"{issued}.{keys.secret_digest(f'device-digest-nonce:{issued}')[:32]}"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse(authorization: str) -> Credentials | None:
    """The credentials an Authorization header offers, or None when it offers none we read."""
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            username, colon, password = base64.b64decode(rest, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return Credentials("basic", username, {"password": password}) if colon else None
    if scheme.lower() == "digest":
        fields = {m[1].lower(): m[2] or m[3] for m in DIGEST_FIELD.finditer(rest)}
        return Credentials("digest", fields.get("username", ""), fields)
    return None


def verify(credentials: Credentials, password: str, method: str, uri: str, keys: Keys, now: float) -> bool:
    if credentials.scheme == "basic":
        return hmac.compare_digest(credentials.fields["password"].encode(), password.encode())
    return _digest_ok(credentials, password, method, uri, keys, now)


def _digest_ok(
    credentials: Credentials, password: str, method: str, uri: str, keys: Keys, now: float
) -> bool:
    fields = credentials.fields
    nonce = fields.get("nonce", "")
    issued, _, _ = nonce.partition(".")
    if not (issued.isdigit() and hmac.compare_digest(nonce, _nonce(keys, int(issued)))):
        return False
    if not 0 <= now - int(issued) <= NONCE_SECONDS:
        return False
    if (fields.get("realm"), fields.get("uri"), fields.get("qop")) != (REALM, uri, "auth"):
        return False
    ha1 = _md5(f"{credentials.username}:{REALM}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    expected = _md5(f"{ha1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}")
    return hmac.compare_digest(expected, fields.get("response", ""))
