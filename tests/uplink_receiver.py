"""A local uplink target for tests and bench/uplink.py: the police platform's part, in-process.

It verifies each request's signature (``X-Anju-Signature`` over ``timestamp + "." + body`` with
its own copy of the secret) and answers 401 to a wrong one, applies each record once by its
idempotency key (a repeat is acknowledged and counted, not applied again) and can be switched:
``down`` (nothing listens: connections are refused), ``failing`` (503 to everything) or ``up``.
Records whose ``reject`` predicate holds are answered as rejected, with a reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from aiohttp import web

SLOW = 3.0  # seconds: beyond the sender's timeout in the tests that use slow answers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Receiver:
    secret: str
    port: int = field(default_factory=free_port)
    failing: bool = False  # answer 503
    reject: Callable[[str, dict], str] = lambda key, row: ""  # a reason to refuse a record, or ""
    applied: dict[str, dict] = field(default_factory=dict)  # key → (table, row), in arrival order
    deliveries: Counter = field(default_factory=Counter)  # key → how often it was received with a 2xx
    refused: int = 0  # requests answered 503
    bad_signatures: int = 0
    requests: int = 0
    slow_answers: int = 0  # this many requests are applied, then answered after SLOW seconds
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/uplink"

    async def up(self) -> None:
        """Start listening (again) on the same port."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_post("/uplink", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def down(self) -> None:
        """Stop listening: the sender's connections are refused."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def repeats(self) -> dict[str, int]:
        return {key: count for key, count in self.deliveries.items() if count > 1}

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        stamp = request.headers.get("X-Anju-Timestamp", "")
        expected = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Anju-Signature", "")):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        if self.failing:
            self.refused += 1
            return web.json_response({"error": "maintenance"}, status=503)
        batch = msgspec.json.decode(body)
        accepted, rejected = [], {}
        for record in batch["records"]:
            key, row = record["key"], record["row"]
            self.deliveries[key] += 1
            if reason := self.reject(key, row):
                rejected[key] = reason
                continue
            if key not in self.applied:  # a repeat is acknowledged, not applied again
                self.applied[key] = {"table": batch["table"], "row": row}
            accepted.append(key)
        if self.slow_answers > 0:  # applied, but the answer comes too late (a lost answer)
            self.slow_answers -= 1
            await asyncio.sleep(SLOW)
        return web.json_response({"accepted": accepted, "rejected": rejected})
