"""The Litestar application: wiring only; rules live in the domain services and roles/."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from backend import metrics, process
from backend.access.controllers import AccessController, AccessRecordController
from backend.accounts import service as accounts
from backend.accounts.controllers import AccountController, AuthController
from backend.alarms.controllers import AlarmController
from backend.analytics.controllers import FindingController
from backend.audit import service as audit
from backend.compliance.controllers import ComplianceController
from backend.context import Context
from backend.credentials.controllers import CredentialController
from backend.db import attach, engine_for, start_pool
from backend.deps import Ctx
from backend.devices.controllers import DeviceController, IntakeController
from backend.doorplates.controllers import PlateController, PlateSheetController, ScanController
from backend.ebikes.controllers import EBikeController
from backend.errors import DomainError, error_body
from backend.faces.controllers import FaceController, FaceGateController, FaceWatchController
from backend.guards import bounded_json, security_headers
from backend.health import DATABASE_DOWN, DatabaseWatch, database_unavailable, health, ready
from backend.intercom.controllers import IntercomController
from backend.live.controllers import LiveController
from backend.notices.controllers import NoticeController
from backend.patrol import service as patrol
from backend.patrol.controllers import PatrolController
from backend.probes.controllers import ProbeController
from backend.registry import codes
from backend.registry.controllers import BuildingController, OrganisationController, RegistryController
from backend.services.controllers import ServicesController
from backend.settings import Settings, get_settings
from backend.sms import require_real_sender
from backend.uplink.controllers import UplinkController
from backend.uplink.sender import senders
from backend.vehicles.controllers import VehicleController
from backend.video.controllers import VideoController, WallController
from backend.video.health import Prober
from backend.video.ptz_controllers import PtzController
from backend.visitors.controllers import VisitorController
from backend.web import pwa_router
from roles import Forbidden, Principal

JSON_BODY_LIMIT = 64 * 1024
NO_COMPRESSION = "no_compression"
log = logging.getLogger("anju")


def _error(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(error_body(status, code, message, field), status_code=status, headers=headers)


def domain_error(_: Request, exc: DomainError) -> Response:
    return _error(exc.status, exc.code, exc.message, exc.field, exc.headers)


def refused(_: Request, exc: Forbidden) -> Response:
    return _error(exc.status, exc.code, exc.message)


def internal_error(request: Request, exc: Exception) -> Response:
    """Anything unexpected: logged here with its traceback, never shown to the caller."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal_error", "Something went wrong on our side; it has been logged")


async def provide_ctx(request: Request) -> Context:
    # Not ``state: State``: Litestar builds a State for each request that asks for one.
    return request.app.state.ctx


async def provide_principal(request: Request, ctx: Ctx) -> Principal:
    # Taking ``ctx`` makes Litestar resolve the two dependencies one after the other: it
    # resolves independent ones in an anyio task group, which cost more per request than
    # a scan's query (bench/scan.py).
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return Principal()
    return await accounts.principal_from_token(ctx, token)


@contextlib.asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """The app's run: its context, database and workers, built from ``app.state.settings`` at start-up.

    Built here rather than in :func:`create_app`, so that the app itself holds only its wiring and
    may be started again with other settings (the tests start one app per test this way).
    """
    settings: Settings = app.state.settings
    codes.install_local(settings.local_codes_dir or None)  # a malformed district file stops the start
    ctx = Context.build(settings)
    engine = engine_for(settings.database_url)
    database = DatabaseWatch(engine)
    prober = Prober(ctx.video, settings)
    uplinks = senders(settings, ctx.live.wakeup, ctx.keys)
    app.state.update(ctx=ctx, database=database, metrics=metrics.DatabaseFigures())
    try:  # a start-up that fails half-way (the database away) still stops what it started
        await attach(engine, settings, ctx.keys)
        await ctx.commands.start()
        if settings.database_pool_size:
            await start_pool(engine, settings.database_pool_size)
        await ctx.live.start()
        for uplink in uplinks:
            await uplink.start()
        await ctx.video.start()
        await prober.start()
        async with audit.trail(ctx), patrol.sweeper(ctx):
            with process.started():
                yield
    finally:
        await prober.stop()
        for uplink in uplinks:
            await uplink.stop()
        await ctx.video.stop()
        await ctx.live.stop()
        await ctx.commands.stop()
        await database.stop()
        if settings.database_pool_size:
            await engine.close_connection_pool()
        await ctx.store.close()
        metrics.forget_process()


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    require_real_sender(settings)
    metrics_routes, metrics_middleware = metrics.wiring(settings)
    return Litestar(
        route_handlers=[
            health,
            ready,
            AuthController,
            AccountController,
            ScanController,
            PlateController,
            PlateSheetController,
            RegistryController,
            OrganisationController,
            BuildingController,
            AccessController,
            AccessRecordController,
            CredentialController,
            DeviceController,
            NoticeController,
            ServicesController,
            PatrolController,
            AlarmController,
            LiveController,
            IntakeController,
            VisitorController,
            FaceController,
            FaceWatchController,
            FaceGateController,
            VehicleController,
            FindingController,
            EBikeController,
            ProbeController,
            VideoController,
            PtzController,
            IntercomController,
            WallController,
            UplinkController,
            ComplianceController,
            pwa_router(),
            *metrics_routes,
        ],
        dependencies={"ctx": Provide(provide_ctx), "who": Provide(provide_principal)},
        exception_handlers={
            DomainError: domain_error,
            Forbidden: refused,
            **dict.fromkeys(DATABASE_DOWN, database_unavailable),
            500: internal_error,
        },
        lifespan=[running],
        middleware=metrics_middleware,
        before_request=bounded_json,
        before_send=[security_headers],
        openapi_config=OpenAPIConfig(
            title="Anju 安居", version="0.1.0", path="/schema", render_plugins=[ScalarRenderPlugin()]
        ),
        # Video segments (already compressed) opt out: NO_COMPRESSION in a handler's opt.
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=1024, exclude_opt_key=NO_COMPRESSION
        ),
        request_max_body_size=JSON_BODY_LIMIT,
        state=State({"settings": settings}),
    )
