"""Liveness, readiness, and what the app answers while its database is unreachable.

``/api/health`` does no I/O: the process is alive. ``/api/ready`` asks each dependency once,
each within ``CHECK_SECONDS``, so a load balancer stops sending traffic while one is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

import msgspec
from asyncpg.exceptions import InternalClientError, OperatorInterventionError, PostgresConnectionError
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from piccolo.engine.base import Engine

from backend.deps import Ctx
from device_bridge.retry import RETRY_FIRST, backoff

log = logging.getLogger("anju.health")
CHECK_SECONDS = 2.0
# What an unreachable PostgreSQL raises: refused or reset sockets, a dropped or terminated
# connection, a server shutting down or still starting, a connection asyncpg lost track of when
# the server terminated it mid-query (InternalClientError). Query errors are not outages.
DATABASE_DOWN = (ConnectionError, PostgresConnectionError, OperatorInterventionError, InternalClientError)
DATABASE_DOWN_MESSAGE = "The database is unreachable right now; try again shortly"


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct, omit_defaults=True):
    status: str  # "ready" or "unavailable"
    checks: dict[str, str]  # dependency → "ok" or "down"
    down: list[str] = []


async def ping(engine: Engine) -> None:
    await engine.run_ddl("SELECT 1")


class DatabaseWatch:
    """Logs a database outage once when it starts and once when it ends, however many requests fail."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._recovery: asyncio.Task | None = None

    @property
    def down(self) -> bool:
        return self._recovery is not None

    def lost(self, exc: Exception) -> None:
        if self._recovery is None:
            log.error(
                "database unreachable (%s: %s); answering 503 until it is back", type(exc).__name__, exc
            )
            self._recovery = asyncio.create_task(self._await_recovery())

    async def _await_recovery(self) -> None:
        delay = RETRY_FIRST
        while True:
            wait, delay = backoff(delay)
            await asyncio.sleep(wait)
            with contextlib.suppress(TimeoutError, *DATABASE_DOWN):
                async with asyncio.timeout(CHECK_SECONDS):
                    await ping(self.engine)
                break
        log.info("database reachable again")
        self._recovery = None

    async def stop(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery


def database_lost(request: Request, exc: Exception) -> None:
    request.app.state["database"].lost(exc)


def database_unavailable(request: Request, exc: Exception) -> Response:
    """503 ``database_unavailable`` instead of a 500 while PostgreSQL cannot be reached."""
    database_lost(request, exc)
    body = {"status_code": 503, "detail": DATABASE_DOWN_MESSAGE, "extra": {"code": "database_unavailable"}}
    return Response(body, status_code=503, headers={"Retry-After": "5"})


@get("/api/health", operation_id="health", tags=["ops"])
async def health() -> Health:
    """Liveness for load balancers; does no I/O (also the baseline of bench/scan.py)."""
    return Health(status="ok")


async def _ok(check: Awaitable[object]) -> str:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await check
    except Exception:  # any failure of a dependency, including our own timeout, is "down"
        return "down"
    return "ok"


async def _broker_connected(ctx: Ctx) -> None:
    if not ctx.commands.connected:
        raise ConnectionError("device commands are not connected to the broker")


@get(
    "/api/ready",
    operation_id="ready",
    tags=["ops"],
    responses={503: ResponseSpec(Readiness, description="A dependency is down; `down` names it")},
)
async def ready(ctx: Ctx, request: Request) -> Response[Readiness]:
    """Readiness: the database, Redis (when configured) and the MQTT broker, each within a short timeout."""
    checks = {"database": ping(request.app.state["database"].engine), "broker": _broker_connected(ctx)}
    if ctx.settings.redis_url:
        checks["redis"] = ctx.store.get("ready-probe")
    results = dict(zip(checks, await asyncio.gather(*map(_ok, checks.values())), strict=True))
    down = [name for name, result in results.items() if result == "down"]
    if down:
        return Response(Readiness("unavailable", results, down), status_code=503)
    return Response(Readiness("ready", results))
