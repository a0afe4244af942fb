"""Who may connect to the broker and which topics each may use: one policy, two enforcers.

Each device logs in as its code with a password derived from its signing secret (nothing more to
store, and re-derivable at any time); it publishes only its own event/state/ack topics and reads
only its own cmd topic. The platform's account reads every device's event/state/ack and writes
every cmd. Nobody else gets anything. The policy is written out for Mosquitto (``anju mqtt-auth``)
and enforced in-process by the embedded broker (broker.py).

Mosquitto's ``acl_file`` checks only publishing and delivery, never subscribing: a device may
still join the bridge's shared subscription, and every event the broker hands to it is dropped
(it may not read it), so it is lost to the bridge. Its dynamic-security plugin checks
subscriptions too; its configuration (``dynamic-security.json``) is the one to deploy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
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
        reads=(
            *(protocol.subscription(prefix, channel, shared=False) for channel in DEVICE_WRITES),
            protocol.subscription(prefix, Channel.EVENT, shared=True),  # bridge workers share the events
        ),
        writes=tuple(protocol.subscription(prefix, channel, shared=False) for channel in DEVICE_READS),
    )


def device_account(prefix: str, community: str, code: str, secret: bytes) -> Account:
    def own(channels: Iterable[Channel]) -> tuple[str, ...]:
        return tuple(protocol.topic(prefix, community, code, channel) for channel in channels)

    return Account(
        username=code, password=device_password(secret), reads=own(DEVICE_READS), writes=own(DEVICE_WRITES)
    )


# --- Mosquitto files -------------------------------------------------------------------


def _pbkdf2(password: str) -> tuple[str, str]:
    """Mosquitto's password hashing: PBKDF2-HMAC-SHA512 with a fresh salt; (salt, hash) in base64."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, HASH_BYTES)
    return base64.b64encode(salt).decode(), base64.b64encode(digest).decode()


def mosquitto_hash(password: str) -> str:
    """The ``$7$`` format that ``mosquitto_passwd`` writes."""
    salt, digest = _pbkdf2(password)
    return f"$7${PBKDF2_ITERATIONS}${salt}${digest}"


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


def dynamic_security(accounts: Iterable[Account]) -> str:
    """Mosquitto's dynamic-security plugin configuration: one client and one role per account.

    Unlike the acl_file, it refuses a subscription outside the account's own filters (SUBACK
    "not authorised"), so nobody can join the bridge's shared subscription.
    """
    clients, roles = [], []
    for account in accounts:
        salt, digest = _pbkdf2(account.password)
        clients.append(
            {
                "username": account.username,
                "password": digest,
                "salt": salt,
                "iterations": PBKDF2_ITERATIONS,
                "roles": [{"rolename": account.username}],
            }
        )
        acls = [{"acltype": "subscribePattern", "topic": name, "allow": True} for name in account.reads]
        acls += [{"acltype": "publishClientReceive", "topic": name, "allow": True} for name in account.reads]
        acls += [{"acltype": "publishClientSend", "topic": name, "allow": True} for name in account.writes]
        roles.append({"rolename": account.username, "acls": acls})
    closed = {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }
    return json.dumps(
        {"clients": clients, "roles": roles, "groups": [], "defaultACLAccess": closed}, indent=1
    )


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


def _admits(account: Account | None, password: str) -> bool:
    return account is not None and hmac.compare_digest(account.password, password)


class Policy:
    """The accounts by user name; reloaded (at most every few seconds) when an unknown user connects,
    or a known one with another password (a device given a new secret)."""

    RELOAD_AT_MOST_EVERY = 5.0

    def __init__(
        self, accounts: Iterable[Account], reload: Callable[[], Awaitable[list[Account]]] | None = None
    ) -> None:
        self._accounts = {account.username: account for account in accounts}
        self._reload = reload
        self._loaded_at = float("-inf")  # the first unknown user may be one provisioned since

    async def authenticate(self, username: str | None, password: str | None) -> bool:
        if not username or password is None:
            return False
        account = self._accounts.get(username)
        if not _admits(account, password) and self._reload and self._stale():
            self._accounts = {account.username: account for account in await self._reload()}
            self._loaded_at = time.monotonic()
            account = self._accounts.get(username)
        return _admits(account, password)

    def _stale(self) -> bool:
        return time.monotonic() - self._loaded_at > self.RELOAD_AT_MOST_EVERY

    def may_read(self, username: str | None, name: str) -> bool:
        account = self._accounts.get(username or "")
        return account is not None and any(covers(allowed, name) for allowed in account.reads)

    def may_write(self, username: str | None, name: str) -> bool:
        account = self._accounts.get(username or "")
        return account is not None and any(covers(allowed, name) for allowed in account.writes)
