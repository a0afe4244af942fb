"""Keys derived from the one root secret: ID-number sealing, lookup hashes, token and audit signing, secret digests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=b"anju", info=purpose.encode()).derive(secret)


# The order of P-256's group: private keys are the integers 1 … n-1.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class Keys:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._pass_keys: dict[int, Ed25519PrivateKey] = {}

    @cached_property
    def _sealing(self) -> AESGCM:
        return AESGCM(_derive(self._secret, "id-number-seal"))

    @cached_property
    def _lookup(self) -> bytes:
        return _derive(self._secret, "id-number-lookup")

    @cached_property
    def signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(_derive(self._secret, "jwt-eddsa"))

    @cached_property
    def verifying_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    def pass_key(self, community_id: int) -> Ed25519PrivateKey:
        """Signs a community's visitor passes (qr/passes.py); its doors hold only the public half."""
        if community_id not in self._pass_keys:
            seed = _derive(self._secret, f"visitor-pass:{community_id}")
            self._pass_keys[community_id] = Ed25519PrivateKey.from_private_bytes(seed)
        return self._pass_keys[community_id]

    def pass_public_key(self, community_id: int) -> bytes:
        return self.pass_key(community_id).public_key().public_bytes_raw()

    @cached_property
    def audit_chain(self) -> bytes:
        """HMAC key of the audit chain's links: without it a rewritten chain cannot be re-hashed."""
        return _derive(self._secret, "audit-chain")

    @cached_property
    def audit_checkpoint_key(self) -> Ed25519PrivateKey:
        """Signs the audit checkpoints kept outside the database."""
        return Ed25519PrivateKey.from_private_bytes(_derive(self._secret, "audit-checkpoint"))

    @cached_property
    def vapid_key(self) -> ec.EllipticCurvePrivateKey:
        """Signs web-push requests (VAPID, P-256). Derived, so every process and host has the same
        one, which browsers bound their subscriptions to; 48 bytes reduced mod n leave no usable bias."""
        scalar = int.from_bytes(_derive(self._secret, "web-push-vapid", 48)) % (_P256_ORDER - 1) + 1
        return ec.derive_private_key(scalar, ec.SECP256R1())

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._sealing.encrypt(nonce, plaintext.encode(), b"id-number")
        return base64.urlsafe_b64encode(sealed).decode()

    def unseal(self, sealed: str) -> str:
        raw = base64.urlsafe_b64decode(sealed)
        return self._sealing.decrypt(raw[:12], raw[12:], b"id-number").decode()

    @cached_property
    def _secret_digest(self) -> bytes:
        return _derive(self._secret, "secret-digest")

    def secret_digest(self, secret: str) -> str:
        """Refresh tokens and one-time codes are stored only as this keyed digest: a leaked
        store or table cannot be brute-forced (a 6-digit code's SHA-256 falls in a millisecond)."""
        return hmac.new(self._secret_digest, secret.encode(), hashlib.sha256).hexdigest()

    @cached_property
    def fingerprint(self) -> str:
        """Names the root secret without revealing it: recorded in the database (backend/rootkey.py)."""
        return hmac.new(
            _derive(self._secret, "key-fingerprint"), b"anju root key", hashlib.sha256
        ).hexdigest()

    def lookup_hash(self, *parts: str) -> str:
        """Deterministic keyed hash: equal inputs find each other, the hash alone reveals nothing."""
        return hmac.new(self._lookup, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()
