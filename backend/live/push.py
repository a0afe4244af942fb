"""Web push: our VAPID identity, subscriptions that cannot aim us at internal hosts, and the sender.

Each app process runs one :class:`Pusher`. It claims due ``push_outbox`` rows atomically (PostgreSQL
``FOR UPDATE SKIP LOCKED``; SQLite's single writer does the same), leasing them for ``LEASE`` so that
no other process takes them meanwhile, sends each to every subscription of its account that has not
had it yet, and then marks it sent, or due again after a backoff, or failed after ``MAX_ATTEMPTS``.
A subscription the push service calls gone (404/410) is deleted.

Sending never blocks the event loop: pywebpush's own async path (aiohttp) posts the requests; only
the encryption (one ECDH and AES-GCM, well under a millisecond) runs in the loop.

SSRF: a subscription comes from a browser, i.e. from anyone signed in, so its endpoint must not
make the server post to internal addresses. Endpoints must be https with a dotted host name or a
public IP; every name is resolved through :class:`PublicResolver`, which refuses private, loopback
and link-local answers at connection time (DNS rebinding included), and redirects are not
followed. ``ANJU_PUSH_ALLOW_HOSTS`` lifts this for named hosts (a local push service in tests).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from piccolo.engine.base import Engine
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from backend.db import TRANSIENT, is_postgres
from backend.errors import Invalid
from backend.keys import Keys
from backend.live.tables import PushOutbox, PushSubscription
from backend.live.wakeup import Wakeup, each_round
from backend.settings import Settings
from device_bridge import store
from device_bridge.retry import RETRY_FIRST, backoff

log = logging.getLogger("anju.live.push")
BATCH = 100  # rows claimed at once
LEASE = timedelta(seconds=60)  # far beyond a batch's sends (each at most SEND_TIMEOUT)
SEND_TIMEOUT = 10.0
MAX_ATTEMPTS = 8  # retries 5 s, 10 s, 20 s … about 10 minutes in all
TTL = 3600  # how long a push service keeps a message for a phone that is offline
# A VAPID signature is valid this long (push services accept up to 24 h); each push service's is
# signed once and reused until RESIGN_BEFORE its end: signing per message cost more than the
# message's encryption (bench/alarm_fanout.py).
VAPID_LIFETIME = 12 * 3600
RESIGN_BEFORE = 3600
KEPT_AFTER_SENDING = timedelta(days=1)  # sent and failed rows, for inspection
PRUNE_EVERY = 60.0  # seconds

CLAIM_HEAD = (
    "UPDATE push_outbox SET due_at = {}, attempts = attempts + 1 WHERE id IN ("
    "SELECT id FROM push_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND due_at <= {} "
    "ORDER BY due_at, id LIMIT {}"
)
CLAIM_TAIL = ") RETURNING id, account, message, delivered, attempts"
# Read first, claim only when something is due: on SQLite a claim takes the one write lock, and
# idle workers polling it would contend with every other writer (the bridge, the app, the CLI).
ANY_DUE = (
    "SELECT 1 AS due FROM push_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND due_at <= {} LIMIT 1"
)
FINISH = "UPDATE push_outbox SET delivered = {}, due_at = {}, sent_at = {}, failed_at = {} WHERE id = {}"
FORGET = "DELETE FROM push_subscription WHERE id = {}"
WORKED = "UPDATE push_subscription SET last_ok_at = {} WHERE id = {}"


def application_server_key(keys: Keys) -> str:
    """The public VAPID key browsers subscribe with (base64url, uncompressed P-256 point)."""
    raw = keys.vapid_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return _b64(raw)


# --- subscriptions -----------------------------------------------------------------


def check_endpoint(url: str, settings: Settings) -> None:
    try:
        parts = urlsplit(url)
        host, _ = (parts.hostname or "").lower(), parts.port  # .port raises on one out of range
    except ValueError:
        raise Invalid("push_endpoint", "The push endpoint is not a URL", field="endpoint") from None
    allowed = host in settings.push_hosts
    if parts.scheme != "https" and not (allowed and parts.scheme == "http"):
        raise Invalid("push_endpoint", "The push endpoint must be an https URL", field="endpoint")
    if not host or parts.username or parts.password:
        raise Invalid(
            "push_endpoint", "The push endpoint must name a host, and no credentials", field="endpoint"
        )
    if allowed:
        return
    literal = _ip_literal(host)
    if literal is None and "." not in host.rstrip("."):  # localhost(.), a service name on an internal network
        raise Invalid("push_endpoint", "The push endpoint must be a push service", field="endpoint")
    if literal is not None and not literal.is_global:
        raise Invalid("push_endpoint", "The push endpoint must be a public address", field="endpoint")


def _ip_literal(host: str) -> IPv4Address | IPv6Address | None:
    """The address a host names by itself, in any form a resolver takes (127.1 and 2130706433 too)."""
    with contextlib.suppress(ValueError):
        return ip_address(host)
    with contextlib.suppress(OSError):
        return IPv4Address(socket.inet_aton(host))
    return None


def check_keys(p256dh: str, auth: str) -> None:
    """The browser's P-256 public key (a point on the curve) and its 16-byte auth secret."""
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(p256dh))
    except ValueError:
        raise Invalid("push_keys", "keys.p256dh is not a P-256 public key", field="keys.p256dh") from None
    if len(_unb64(auth, field="keys.auth")) != 16:
        raise Invalid("push_keys", "keys.auth must be 16 bytes", field="keys.auth")


class PublicResolver(aiohttp.ThreadedResolver):
    """Resolves only to public addresses, except for the allowed hosts."""

    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__()
        self._allowed = allowed

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        found = await super().resolve(host, port, family)
        if host.lower() in self._allowed:
            return found
        public = [answer for answer in found if ip_address(answer["host"]).is_global]
        if not public:
            raise OSError(f"{host} resolves to no public address")
        return public


class _NoRedirects:
    """What pywebpush needs of a session (``post``), never following a redirect elsewhere."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def post(self, url: str, *, timeout: Any = None, **params: Any) -> aiohttp.ClientResponse:
        return await self._session.post(url, allow_redirects=False, **params)  # the session's timeout


# --- sending -------------------------------------------------------------------------


class Outcome(Enum):
    SENT = "sent"
    GONE = "gone"  # the subscription no longer exists: delete it
    RETRY = "retry"


class Due(msgspec.Struct, frozen=True):
    """A claimed outbox row."""

    id: int
    account: int
    message: str  # PushMessage JSON, sent as it is
    delivered: str  # JSON list of subscription ids
    attempts: int


class Delivery(msgspec.Struct, frozen=True):
    """One row's round: the subscriptions served so far, and this round's outcome per subscription."""

    served: list[int]
    outcomes: list[tuple[int, Outcome]]

    @property
    def complete(self) -> bool:
        return all(outcome is not Outcome.RETRY for _, outcome in self.outcomes)

    def having(self, outcome: Outcome) -> list[int]:
        return [subscription for subscription, each in self.outcomes if each is outcome]


class Pusher:
    def __init__(self, settings: Settings, keys: Keys, wakeup: Wakeup) -> None:
        self._settings = settings
        self._vapid = Vapid(private_key=keys.vapid_key)
        self._signal = wakeup.local.waiter()
        self._http: _NoRedirects | None = None
        self._pruned = 0.0
        self._signed: dict[str, tuple[int, dict[str, str]]] = {}  # push service → (expiry, VAPID headers)

    async def run(self) -> None:
        async with self.connected():
            await each_round(self._signal, self._settings.live_poll, self._round, "push worker")

    async def _round(self) -> None:
        while await self.send_due() == BATCH:
            pass
        if time.monotonic() - self._pruned > PRUNE_EVERY:
            await _prune()
            self._pruned = time.monotonic()

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """The HTTP client sends go through, for as long as the block runs."""
        connector = aiohttp.TCPConnector(resolver=PublicResolver(self._settings.push_hosts), limit=100)
        timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self._http = _NoRedirects(session)
            try:
                yield
            finally:
                self._http = None

    async def send_due(self) -> int:
        """Claim the due rows, send them, record the outcome; how many rows were claimed."""
        engine = PushOutbox._meta.db
        now = datetime.now(UTC)
        if not await PushOutbox.raw(ANY_DUE, store.timestamp(now, is_postgres(engine))):
            return 0
        async with store.writer(engine) as writer:
            claim = CLAIM_HEAD + (" FOR UPDATE SKIP LOCKED" if writer.postgres else "") + CLAIM_TAIL
            claimed = await writer.fetch(claim, writer.at(now + LEASE), writer.at(now), BATCH)
        rows = [Due(**row) for row in claimed]
        if not rows:
            return 0
        subscriptions = await _subscriptions({row.account for row in rows})
        deliveries = await asyncio.gather(
            *(self._deliver(row, subscriptions.get(row.account, [])) for row in rows)
        )
        await _record_through_outage(engine, rows, deliveries)
        return len(rows)

    async def _deliver(self, row: Due, subscriptions: Sequence[dict]) -> Delivery:
        """Send to each subscription of the row's account that has not had it yet."""
        served = set(msgspec.json.decode(row.delivered))
        todo = [sub for sub in subscriptions if sub["id"] not in served]
        urgency = msgspec.json.decode(row.message).get("urgency", "normal")
        outcomes = await asyncio.gather(*(self._send(sub, row.message, urgency) for sub in todo))
        served.update(
            sub["id"] for sub, outcome in zip(todo, outcomes, strict=True) if outcome is not Outcome.RETRY
        )
        return Delivery(
            sorted(served), [(sub["id"], outcome) for sub, outcome in zip(todo, outcomes, strict=True)]
        )

    async def _send(self, subscription: dict, message: str, urgency: str) -> Outcome:
        try:
            check_endpoint(subscription["endpoint"], self._settings)  # the rules may have tightened since
        except Invalid:
            return Outcome.GONE
        keys = {"p256dh": subscription["p256dh"], "auth": subscription["auth"]}
        try:
            await webpush_async(
                {"endpoint": subscription["endpoint"], "keys": keys},
                data=message,
                ttl=TTL,
                headers={"Urgency": urgency, **self._vapid_headers(subscription["endpoint"])},
                aiohttp_session=self._http,
            )
        except WebPushException as exc:
            status = exc.response.status if exc.response is not None else None
            return Outcome.GONE if status in (404, 410) else Outcome.RETRY
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("push to %s failed: %s", urlsplit(subscription["endpoint"]).hostname, exc)
            return Outcome.RETRY
        return Outcome.SENT

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        """The VAPID ``Authorization`` for the endpoint's push service (its origin is the audience)."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = int(time.time())
        expiry, headers = self._signed.get(audience, (0, {}))
        if expiry - RESIGN_BEFORE <= now:
            expiry = now + VAPID_LIFETIME
            claims = {"sub": self._settings.vapid_subject, "aud": audience, "exp": expiry}
            headers = self._vapid.sign(claims)
            self._signed[audience] = (expiry, headers)
        return headers


def _finished(writer: store.Writer, row: Due, delivery: Delivery, now: datetime) -> tuple:
    """FINISH's values: sent, due again after a backoff, or failed for good."""
    served = msgspec.json.encode(delivery.served).decode()
    if delivery.complete:
        return (served, writer.at(now), writer.at(now), None, row.id)
    if row.attempts >= MAX_ATTEMPTS:
        return (served, writer.at(now), None, writer.at(now), row.id)
    retry = now + timedelta(seconds=min(5 * 2 ** (row.attempts - 1), 3600))
    return (served, writer.at(retry), None, None, row.id)


async def _record(engine: Engine, rows: list[Due], deliveries: list[Delivery]) -> None:
    """The round's outcome in one transaction: the rows, and the subscriptions gone or working.

    Subscription ids in ascending order, so that two workers touching the same ones lock them alike.
    """
    now = datetime.now(UTC)
    gone = sorted({sub for each in deliveries for sub in each.having(Outcome.GONE)})
    working = sorted({sub for each in deliveries for sub in each.having(Outcome.SENT)})
    async with store.writer(engine) as writer:
        await writer.many(
            FINISH, [_finished(writer, *done, now) for done in zip(rows, deliveries, strict=True)]
        )
        await writer.many(FORGET, [(sub,) for sub in gone])
        await writer.many(WORKED, [(writer.at(now), sub) for sub in working])


async def _record_through_outage(engine: Engine, rows: list[Due], deliveries: list[Delivery]) -> None:
    """Record what was sent, retrying while the database is away: unrecorded, the rows would be
    sent a second time once their lease ends. Past half the lease another worker may take them
    anyway, so the outcome is dropped then (a resend, not a loss)."""
    give_up, delay = time.monotonic() + LEASE.total_seconds() / 2, RETRY_FIRST
    while True:
        try:
            return await _record(engine, rows, deliveries)
        except TRANSIENT as exc:
            if time.monotonic() > give_up:
                raise
            log.warning("push outcome not recorded yet (%s); retrying", exc)
            wait, delay = backoff(delay)
            await asyncio.sleep(wait)


async def _subscriptions(accounts: set[int]) -> dict[int, list[dict]]:
    rows = await PushSubscription.select(
        PushSubscription.id,
        PushSubscription.account,
        PushSubscription.endpoint,
        PushSubscription.p256dh,
        PushSubscription.auth,
    ).where(PushSubscription.account.is_in(list(accounts)))
    by_account: dict[int, list[dict]] = {}
    for row in rows:
        by_account.setdefault(row["account"], []).append(row)
    return by_account


async def _prune() -> None:
    before = datetime.now(UTC) - KEPT_AFTER_SENDING
    await PushOutbox.delete().where(
        (PushOutbox.sent_at.is_not_null() & (PushOutbox.sent_at < before))
        | (PushOutbox.failed_at.is_not_null() & (PushOutbox.failed_at < before))
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str, field: str = "keys.p256dh") -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Invalid("push_keys", f"{field} is not base64url", field=field) from None
