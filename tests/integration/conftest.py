from __future__ import annotations

import asyncio
import contextlib
import re

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from backend.app import create_app
from backend.context import Context
from backend.db import is_postgres
from backend.doorplates.tables import Doorplate
from backend.piccolo_app import APP_CONFIG
from backend.registry.enums import PlaceKind
from backend.registry.tables import Community, House
from backend.seed import SMALL_SIZE, demo_phone, seed_district
from backend.settings import Settings
from roles import Role
from roles.matrix import PASSKEY_ROLES
from tests.faults import relayed
from tests.softkey import SoftKey

# The sequences behind the tables' ids (what TRUNCATE … RESTART IDENTITY would restart).
OWNED_SEQUENCES = """
    SELECT sequence.relname FROM pg_class sequence
    JOIN pg_depend link ON link.objid = sequence.oid
    JOIN pg_class owner ON owner.oid = link.refobjid
    WHERE sequence.relkind = 'S' AND owner.relname = ANY($1::text[])
"""


async def wipe() -> None:
    """Empty every table and restart the ids, as a fresh database would have them.

    On PostgreSQL, DELETE with triggers off (the audit tables' append-only rule, foreign keys)
    costs ≈15 ms where TRUNCATE of the 70-odd tables costs ≈200 ms, on every test.
    """
    tables = APP_CONFIG.table_classes
    engine = tables[0]._meta.db
    names = [table._meta.tablename for table in reversed(tables)]
    if not is_postgres(engine):
        for name in names:
            await tables[0].raw(f"DELETE FROM {name}")
        return
    async with engine.transaction() as transaction:
        sequences = await transaction.connection.fetch(OWNED_SEQUENCES, names)
        await transaction.connection.execute(
            "SET LOCAL session_replication_role = replica;"
            + "".join(f'DELETE FROM "{name}";' for name in names)
            + "".join(f'ALTER SEQUENCE "{row[0]}" RESTART;' for row in sequences)
        )


async def flush_redis(url: str, prefix: str) -> None:
    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def lifespan(app):
    """Run the app's start-up and shut-down in this event loop, over the ASGI lifespan protocol.

    (Litestar's test clients run the lifespan on a portal thread's loop, which would leave the
    app's MQTT and database connections in a different loop than the requests.)
    """
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


_APPS: dict[bool, Litestar] = {}


def app_for(settings: Settings) -> Litestar:
    """The app with the test's settings: built once per process (its ≈400 routes cost ≈0.3 s to
    wire) and started anew by each test, as create_app allows; only the metrics token changes
    the wiring."""
    wiring = bool(settings.metrics_token)
    if wiring not in _APPS:
        _APPS[wiring] = create_app(settings)
    app = _APPS[wiring]
    app.state.settings = settings
    return app


@pytest.fixture
async def client(settings):
    """The app served in the test's own event loop (lifespan included), over ASGI."""
    app = app_for(settings)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://anju.local") as client:
            await wipe()
            client.ctx = app.state["ctx"]
            yield client
    if settings.redis_url:
        await flush_redis(settings.redis_url, settings.redis_prefix)


class World:
    """The seeded district as tests see it: ids, plates and signed-in callers by role.

    The client is served over https, so its cookie jar holds the (Secure) refresh cookie of
    the latest sign-in, as a browser would.
    """

    def __init__(self, client: httpx.AsyncClient, ctx: Context) -> None:
        self.client, self.ctx = client, ctx
        self._headers: dict[str, dict[str, str]] = {}
        self.keys: dict[str, SoftKey] = {}  # the software passkey enrolled per phone

    async def load(self) -> World:
        self.home, self.other = [c.id for c in await Community.objects().order_by(Community.id)]
        self.home_house = (
            await House.objects().where(House.community == self.home).order_by(House.id).first()
        ).id
        self.other_house = (
            await House.objects().where(House.community == self.other).order_by(House.id).first()
        ).id
        return self

    def phone(self, role: Role, community: str = "home") -> str:
        return demo_phone(role, second_community=community == "other")

    async def plate(self, community: int, kind: PlaceKind = PlaceKind.HOUSE, index: int = 0) -> str:
        rows = (
            await Doorplate.select(Doorplate.token)
            .where((Doorplate.community == community) & (Doorplate.address.kind == kind))
            .order_by(Doorplate.address.code)
        )
        return rows[index]["token"]

    async def house_plate(self, house_id: int) -> str:
        house = await House.objects().get(House.id == house_id)
        row = await Doorplate.select(Doorplate.token).where(Doorplate.address == house.address).first()
        return row["token"]

    async def code_sign_in(self, phone: str) -> httpx.Response:
        """The real code flow (the code is read from the in-memory SMS outbox); the raw answer."""
        response = await self.client.post("/api/auth/code", json={"phone": phone})
        assert response.status_code == 202, response.text
        code = re.search(r"\d{6}", self.ctx.sms.outbox[-1][1])[0]
        return await self.client.post("/api/auth/token", json={"phone": phone, "code": code})

    async def sign_in(self, phone: str) -> dict:
        response = await self.code_sign_in(phone)
        assert response.status_code == 200, response.text
        return response.json()

    async def passkey_sign_in(self, key: SoftKey) -> httpx.Response:
        options = (await self.client.post("/api/auth/passkeys/authentication-options")).json()
        return await self.client.post(
            "/api/auth/passkeys/authenticate",
            json={"ticket": options["ticket"], "credential": key.get(options["options"])},
        )

    async def signed_in(self, role: Role, community: str = "home") -> dict:
        """A fresh session as a role would really get it: police and district admins sign in with
        their passkey (enrolled once after a first code sign-in), everyone else by code."""
        phone = self.phone(role, community)
        if role not in PASSKEY_ROLES:
            return await self.sign_in(phone)
        if phone not in self.keys:
            first = await self.sign_in(phone)
            await self.enrol_passkey(first["access_token"], phone=phone)
        response = await self.passkey_sign_in(self.keys[phone])
        assert response.status_code == 200, response.text
        return response.json()

    async def headers(self, role: Role | None, community: str = "home") -> dict[str, str]:
        """Authorization headers for a role (None: anonymous)."""
        if role is None:
            return {}
        phone = self.phone(role, community)
        if phone not in self._headers:
            tokens = await self.signed_in(role, community)
            self._headers[phone] = {"Authorization": f"Bearer {tokens['access_token']}"}
        return self._headers[phone]

    async def enrol_passkey(self, access_token: str, key: SoftKey | None = None, phone: str = "") -> dict:
        """Enrol a (software) passkey through the API; returns the session that knows about it."""
        key = key or SoftKey(self.ctx.settings.origin)
        if phone:
            self.keys[phone] = key
        auth = {"Authorization": f"Bearer {access_token}"}
        options = await self.client.post("/api/auth/passkeys/registration-options", headers=auth)
        assert options.status_code == 200, options.text
        enrolled = await self.client.post(
            "/api/auth/passkeys", json={"credential": key.create(options.json())}, headers=auth
        )
        assert enrolled.status_code == 201, enrolled.text
        return enrolled.json()


@pytest.fixture
async def world(client) -> World:
    await seed_district(client.ctx, SMALL_SIZE)
    return await World(client, client.ctx).load()


@pytest.fixture
async def database_relay(settings):
    """PostgreSQL behind a relay the test cuts: an outage of the test's database only."""
    if not settings.database_url.startswith("postgres"):
        pytest.skip("a database outage is a PostgreSQL matter")
    async with relayed(settings.database_url, 5432) as (relay, url):
        relay.url = url
        yield relay
