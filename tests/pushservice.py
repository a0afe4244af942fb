"""A local push service for tests: it plays FCM/Mozilla's part and reads what it was sent.

Each :class:`Browser` stands for one browser's subscription: its own P-256 key pair and auth
secret, as PushManager.subscribe() would make them. The service checks the VAPID header's
signature against the server's public key and decrypts every message (aes128gcm, RFC 8291) with
the subscription's private key, so a test sees exactly what a phone would show. A subscription
can be told to answer 410 Gone, as push services do for an unsubscribed browser.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import http_ece
import jwt
import msgspec
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One subscription's secrets (held by the browser, never by the server)."""

    name: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    status: int = 201  # what the push service answers for it

    def subscription(self, base_url: str) -> dict:
        """PushSubscription.toJSON(), as the PWA posts it."""
        public = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {
            "endpoint": f"{base_url}/push/{self.name}",
            "expirationTime": None,
            "keys": {"p256dh": b64(public), "auth": b64(self.auth)},
        }


@dataclass(frozen=True)
class Received:
    browser: str
    message: dict  # the decrypted payload
    urgency: str
    vapid_key: str  # the k= of the Authorization header, whose signature checked out
    claims: dict


class PushService:
    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.received: list[Received] = []
        self.refused: list[str] = []  # requests that did not check out, and why
        self.url = ""

    def browser(self, status: int = 201) -> Browser:
        browser = Browser(f"b{secrets.token_hex(4)}", status=status)
        self.browsers[browser.name] = browser
        return browser

    def messages(self, browser: Browser) -> list[dict]:
        return [r.message for r in self.received if r.browser == browser.name]

    async def _push(self, request: web.Request) -> web.Response:
        browser = self.browsers.get(request.match_info["name"])
        if browser is None:
            return web.Response(status=404)
        if browser.status >= 400:
            return web.Response(status=browser.status)
        try:
            scheme, _, params = request.headers["Authorization"].partition(" ")
            fields = dict(part.strip().split("=", 1) for part in params.split(","))
            assert scheme == "vapid", scheme
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(fields["k"]))
            claims = jwt.decode(fields["t"], key, algorithms=["ES256"], audience=self.url)
            assert request.headers["Content-Encoding"] == "aes128gcm"
            body = http_ece.decrypt(
                await request.read(), private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
            )
        except Exception as exc:  # anything a real push service would refuse
            self.refused.append(f"{browser.name}: {exc!r}")
            return web.Response(status=400)
        self.received.append(
            Received(
                browser.name,
                msgspec.json.decode(body),
                request.headers.get("Urgency", ""),
                fields["k"],
                claims,
            )
        )
        return web.Response(status=201)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[PushService]:
        app = web.Application()
        app.router.add_post("/push/{name}", self._push)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            await runner.cleanup()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[PushService]:
        """For synchronous tests (Playwright's): the service on a loop of its own."""
        loop = asyncio.new_event_loop()
        started, stop = threading.Event(), asyncio.Event()

        async def serve() -> None:
            async with self.running():
                started.set()
                await stop.wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
        thread.start()
        started.wait(10)
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()
