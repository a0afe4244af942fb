"""Captures leave the platform (seed 五.(五)): forwarded to the capture sink, erased when due.

A gate's decision writes its capture to the outbox in the same transaction (gates.py), so a sink
that is down for hours loses nothing: each bridge worker posts what is due, oldest first, and
deletes a row only once the sink answered 2xx; a failure is retried with a growing delay (at most
every ten minutes). Each POST is the 抓拍人像信息 record with the capture, signed
(``X-Anju-Signature: sha256=<HMAC-SHA256 of the body with the sink secret>``) and carrying the
record's key as ``Idempotency-Key``, so a repeat after a lost answer is recognisable. Workers
racing for the same row may both post it; the key makes the second harmless.

Captures kept on a record (a watch-list sighting, or a configured retention) are erased once their
time is up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

from backend.keys import Keys
from backend.settings import Settings
from device_bridge.store import Writer

log = logging.getLogger("anju.faces")
Transaction = Callable[[], AbstractAsyncContextManager[Writer]]
BATCH = 20
MAX_DELAY_SECONDS = 600
DUE = "SELECT key, body_sealed, attempts FROM capture_outbox WHERE due_at <= {} ORDER BY due_at, id LIMIT {}"
SENT = "DELETE FROM capture_outbox WHERE key = {}"
RETRY = "UPDATE capture_outbox SET attempts = {}, due_at = {} WHERE key = {}"
ERASE = "UPDATE face_passage SET capture_sealed = '', capture_until = NULL WHERE capture_until <= {}"


class Forwarder:
    """Posts due captures to the sink for one bridge worker."""

    def __init__(self, settings: Settings, keys: Keys, transaction: Transaction) -> None:
        self._url, self._secret = settings.capture_sink_url, settings.capture_sink_secret.encode()
        self._keys, self._transaction = keys, transaction
        self._client = httpx.AsyncClient(timeout=10.0)
        self._failing = False  # logged when it starts and when it ends, not at every retry

    async def forward_due(self) -> int:
        """Post what is due; how many the sink took."""
        async with self._transaction() as writer:
            due = await writer.fetch(DUE, writer.at(_now()), BATCH)
        taken = 0
        for row in due:
            ok = await self._post(row["key"], self._keys.unseal(row["body_sealed"]).encode())
            async with self._transaction() as writer:
                if ok:
                    await writer.many(SENT, [(row["key"],)])
                    taken += 1
                else:
                    attempts = row["attempts"] + 1
                    later = _now() + dt.timedelta(seconds=min(2**attempts, MAX_DELAY_SECONDS))
                    await writer.many(RETRY, [(attempts, writer.at(later), row["key"])])
        return taken

    async def _post(self, key: str, body: bytes) -> bool:
        signature = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Anju-Signature": f"sha256={signature}",
        }
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
            failure = "" if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if failure and not self._failing:
            log.warning("capture sink failing (%s); captures wait in the outbox", failure)
        elif self._failing and not failure:
            log.warning("capture sink back")
        self._failing = bool(failure)
        return not failure

    async def close(self) -> None:
        await self._client.aclose()


async def erase_expired(transaction: Transaction) -> None:
    async with transaction() as writer:
        await writer.many(ERASE, [(writer.at(_now()),)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
