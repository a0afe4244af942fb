"""Who may connect to the broker and which topics each may use: one policy, two enforcers.

Each device logs in as its code with a password derived from its signing secret (nothing more to
store, and re-derivable at any time); it publishes only its own event/state/ack topics and reads
only its own cmd topic. The platform's account reads every device's event/state/ack and writes
every cmd. Nobody else gets anything. The policy is written out as a Mosquitto ``password_file``
and ``acl_file`` (``anju mqtt-auth``) and enforced in-process by the embedded broker (broker.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable

import msgspec

from device_bridge import protocol
from device_bridge.protocol import Channel

DEVICE_WRITES = (Channel.EVENT, Channel.STATE, Channel.ACK)
DEVICE_READS = (Channel.CMD,)
# Mosquitto's own defaults for its PBKDF2-SHA512 ("$7$") hashes.
PBKDF2_ITERATIONS, SALT_BYTES, HASH_BYTES = 101, 12, 64


def device_password(secret: bytes) -> str:
    """A device's MQTT password, derived from its signing secret."""
    return hmac.new(secret, b"mqtt-password", hashlib.sha256).hexdigest()


class Account(msgspec.Struct, frozen=True):
    username: str
    password: str
    reads: tuple[str, ...]  # topic filters it may subscribe to
    writes: tuple[str, ...]  # topic filters it may publish to


def platform_account(prefix: str, username: str, password: str) -> Account:
    """The bridge workers and the app's door commands: every device's uplink, every device's cmd."""
    return Account(
        username=username,
        password=password,
        reads=tuple(protocol.subscription(prefix, channel, shared=False) for channel in DEVICE_WRITES),
        writes=tuple(protocol.subscription(prefix, channel, shared=False) for channel in DEVICE_READS),
    )


def device_account(prefix: str, community: str, code: str, secret: bytes) -> Account:
    def own(channels: Iterable[Channel]) -> tuple[str, ...]:
        return tuple(protocol.topic(prefix, community, code, channel) for channel in channels)

    return Account(
        username=code, password=device_password(secret), reads=own(DEVICE_READS), writes=own(DEVICE_WRITES)
    )


# --- Mosquitto files -------------------------------------------------------------------


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """Mosquitto's ``$7$`` format (what ``mosquitto_passwd`` writes): PBKDF2-HMAC-SHA512."""
    salt = salt or secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, HASH_BYTES)
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return f"$7${PBKDF2_ITERATIONS}${encoded[0]}${encoded[1]}"


def password_file(accounts: Iterable[Account]) -> str:
    return "".join(f"{account.username}:{mosquitto_hash(account.password)}\n" for account in accounts)


def acl_file(accounts: Iterable[Account]) -> str:
    """A ``user`` block per account; topics outside every block are denied to everyone."""
    blocks = []
    for account in accounts:
        lines = [f"user {account.username}"]
        lines += [f"topic read {name}" for name in account.reads]
        lines += [f"topic write {name}" for name in account.writes]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


# --- in-process enforcement (the embedded broker) ---------------------------------------


def covers(allowed: str, requested: str) -> bool:
    """Whether topic filter ``allowed`` includes every topic that ``requested`` (a topic or filter) can match."""
    want, have = requested.split("/"), allowed.split("/")
    for index, level in enumerate(have):
        if level == "#":
            return True
        if index >= len(want) or want[index] == "#":
            return False
        if level != "+" and level != want[index]:
            return False
    return len(want) == len(have)


def unshared(name: str) -> str:
    """``$share/GROUP/filter`` → ``filter``: joining a shared subscription is reading its topics."""
    if name.startswith("$share/"):
        return name.split("/", 2)[2] if name.count("/") >= 2 else ""
    return name


class Policy:
    """The accounts by user name; reloaded (at most every few seconds) when an unknown user connects."""

    RELOAD_AT_MOST_EVERY = 5.0

    def __init__(
        self, accounts: Iterable[Account], reload: Callable[[], Awaitable[list[Account]]] | None = None
    ) -> None:
        self._accounts = {account.username: account for account in accounts}
        self._reload = reload
        self._loaded_at = time.monotonic()

    async def authenticate(self, username: str | None, password: str | None) -> bool:
        if not username or password is None:
            return False
        account = self._accounts.get(username)
        if account is None and self._reload and self._stale():
            self._accounts = {account.username: account for account in await self._reload()}
            self._loaded_at = time.monotonic()
            account = self._accounts.get(username)
        return account is not None and hmac.compare_digest(account.password, password)

    def _stale(self) -> bool:
        return time.monotonic() - self._loaded_at > self.RELOAD_AT_MOST_EVERY

    def may_read(self, username: str | None, name: str) -> bool:
        account = self._accounts.get(username or "")
        return account is not None and any(covers(allowed, unshared(name)) for allowed in account.reads)

    def may_write(self, username: str | None, name: str) -> bool:
        account = self._accounts.get(username or "")
        return account is not None and any(covers(allowed, name) for allowed in account.writes)
