"""How a batch of one table's outbox rows reaches its target: a small interface, three transports.

A transport is ``running()`` for the sender's life (its connection or session) and ``send(table,
rows)``: each row's :class:`Outcome` by key — ``sent``, ``rejected`` (with the target's reason,
never retried) or ``pending`` (retried after a backoff: the target is away or busy).

- :class:`HttpTransport` (``ANJU_UPLINK_URL=http(s)://…``): the signed POST (``sender.py``).
- :class:`MqttTransport` (``ANJU_UPLINK_URL=mqtt(s)://host:port/topic/prefix``): each batch is one
  QoS 1 message on ``<prefix>/<table>``, the same body as the POST; MQTT 3.1.1 has no headers, so
  it is an MQTT 5 publish carrying ``X-Anju-Timestamp`` and ``X-Anju-Signature`` as user
  properties. The broker's PUBACK is ``sent``; no broker, or no PUBACK in time, is ``pending``.
- ``viid.ViidTransport`` (``ANJU_VIID_URL``): GA/T 1400.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import aiomqtt
import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend.process import in_background
from backend.settings import Settings
from backend.uplink.outbox import PENDING, REJECTED, SENT
from device_bridge.session import Session
from device_bridge.transport import parse_url

RETRIED_STATUSES = frozenset({401, 403, 404, 408, 429})
REASON_LENGTH = 300


class Due(msgspec.Struct, frozen=True):
    """A claimed outbox row."""

    id: int
    key: str
    table_key: str
    payload: str  # the row's JSON
    attempts: int


class Outcome(msgspec.Struct, frozen=True):
    state: str  # sent, rejected, or pending (retry)
    reason: str = ""


class Transport(Protocol):
    def running(self) -> AbstractAsyncContextManager[None]: ...

    async def send(self, table: str, rows: list[Due]) -> dict[str, Outcome]: ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """X-Anju-Signature: hex HMAC-SHA256 of ``timestamp + "." + body`` under the shared secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def batch_body(table: str, rows: list[Due]) -> bytes:
    """``{"table": …, "records": [{"key": …, "row": {…}}]}``, the rows' JSON as stored."""
    records = b",".join(
        b'{"key":' + msgspec.json.encode(row.key) + b',"row":' + row.payload.encode() + b"}" for row in rows
    )
    return b'{"table":' + msgspec.json.encode(table) + b',"records":[' + records + b"]}"


def signed(secret: str, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"X-Anju-Timestamp": stamp, "X-Anju-Signature": sign(secret, stamp, body)}


class HttpTransport:
    def __init__(self, settings: Settings) -> None:
        self._url, self._secret = settings.uplink_url, settings.uplink_secret
        self._timeout = aiohttp.ClientTimeout(total=settings.uplink_timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    async def send(self, table: str, rows: list[Due]) -> dict[str, Outcome]:
        """One signed request for one table's rows; each row's outcome by key."""
        assert self._session is not None
        body = batch_body(table, rows)
        headers = {"Content-Type": "application/json", **signed(self._secret, body)}
        keys = [row.key for row in rows]
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return dict.fromkeys(keys, Outcome(PENDING, f"no answer: {type(exc).__name__}"))
        answer = _answer(text)
        if 200 <= status < 300:
            return {
                key: Outcome(REJECTED, answer[key][:REASON_LENGTH]) if key in answer else Outcome(SENT)
                for key in keys
            }
        if 400 <= status < 500 and status not in RETRIED_STATUSES:
            default = f"HTTP {status}"
            return {key: Outcome(REJECTED, answer.get(key, default)[:REASON_LENGTH]) for key in keys}
        return dict.fromkeys(keys, Outcome(PENDING, f"HTTP {status}"))


class _Answer(msgspec.Struct):
    accepted: list[str] = []
    rejected: dict[str, str] = {}


def _answer(text: str) -> dict[str, str]:
    """The target's per-record rejections (key → reason); none if it said nothing readable."""
    try:
        return msgspec.json.decode(text, type=_Answer).rejected
    except (msgspec.DecodeError, msgspec.ValidationError):
        return {}


class MqttTransport:
    """One reconnecting MQTT 5 session (``device_bridge.session``) for the sender's life."""

    def __init__(self, settings: Settings) -> None:
        self._prefix = urlsplit(settings.uplink_url).path.strip("/")
        self._secret, self._timeout = settings.uplink_secret, settings.uplink_timeout_seconds
        self._session = Session(
            "uplink",
            parse_url(settings.uplink_url),  # mqtts: the broker's certificate checked with the system's CAs
            identifier=f"anju-uplink-{secrets.token_hex(4)}",
            mqtt5=True,
        )

    def topic(self, table: str) -> str:
        return f"{self._prefix}/{table}" if self._prefix else table

    def running(self) -> AbstractAsyncContextManager[None]:
        return in_background(self._session.run(self._hold), "uplink-mqtt")

    async def _hold(self, client: aiomqtt.Client) -> None:
        """Serve the connection until it is lost (the session then reconnects)."""
        async for _ in self._session.messages(client):
            pass

    async def send(self, table: str, rows: list[Due]) -> dict[str, Outcome]:
        keys = [row.key for row in rows]
        client = self._session.client
        if client is None:
            return dict.fromkeys(keys, Outcome(PENDING, "MQTT: no broker"))
        body = batch_body(table, rows)
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = list(signed(self._secret, body).items())
        try:
            async with asyncio.timeout(self._timeout):
                await client.publish(self.topic(table), body, qos=1, properties=properties)
        except (aiomqtt.MqttError, TimeoutError) as exc:
            return dict.fromkeys(keys, Outcome(PENDING, f"MQTT: no PUBACK ({type(exc).__name__})"))
        return dict.fromkeys(keys, Outcome(SENT))
