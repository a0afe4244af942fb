"""The ``anju`` command: serve, demo, migrate, seed, plates, audit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("PICCOLO_CONF", "backend.piccolo_conf")

from backend.errors import DomainError  # noqa: E402
from backend.settings import Settings, SettingsError, get_settings  # noqa: E402


def _run(coro) -> None:
    asyncio.run(coro)


async def _migrate() -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    result = await run_forwards(app_name="anju")
    if not result.success:
        raise SystemExit(f"migration failed: {result.message}")


async def _with_db(settings: Settings, work):
    """Run ``work(ctx)`` against the configured database."""
    from backend.context import Context
    from backend.db import bind, engine_for

    bind(engine_for(settings.database_url))
    ctx = Context.build(settings)
    try:
        return await work(ctx)
    finally:
        await ctx.store.close()


def cmd_migrate(_: argparse.Namespace) -> None:
    _run(_migrate())


async def _seed(settings: Settings) -> bool:
    """Seed the demo district unless the database already has one."""
    from backend.registry.tables import District
    from backend.seed import seed_district

    async def work(ctx):
        if await District.exists():
            return None
        return await seed_district(ctx)

    report = await _with_db(settings, work)
    if report is None:
        print("database already seeded; leaving it as it is")
        return False
    for community in report.communities:
        print(
            f"seeded {community.name} (id {community.id}): {community.flats} flats, {community.people} residencies"
        )
    return True


def cmd_seed(_: argparse.Namespace) -> None:
    settings = get_settings()
    _run(_migrate())
    _run(_seed(settings))


def cmd_serve(args: argparse.Namespace) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    settings = get_settings()
    Granian(
        "backend.app:create_app",
        factory=True,
        interface=Interfaces.ASGI,
        address=settings.host,
        port=settings.port,
        workers=args.workers,
        log_access=False,
    ).serve()


def _print_logins(settings: Settings) -> None:
    from backend.seed import DEMO_LOGINS

    print(f"\n安居 Anju demo: open {settings.public_url}/")
    print(f"sign-in code for every account (demo mode only): {settings.demo_code}")
    for role, phone, note in DEMO_LOGINS:
        print(f"  {role:<17} {phone}  {note}")
    print("police and district admins enrol a passkey at first sign-in (localhost is a secure context).")
    print(f"API docs: {settings.public_url}/schema\n")


def cmd_demo(args: argparse.Namespace) -> None:
    """Everything on the embedded defaults: database, broker, bridge, simulated devices, server."""
    os.environ["ANJU_DEMO"] = "true"
    get_settings.cache_clear()
    settings = get_settings()
    _run(_migrate())
    _run(_seed(settings))
    _run(_print_plates(settings))
    _print_logins(settings)
    devices = subprocess.Popen([sys.executable, "-m", "backend", "bridge", "--simulate"])
    try:
        cmd_serve(args)
    finally:
        devices.terminate()
        devices.wait(timeout=10)


async def _print_plates(settings: Settings) -> None:
    from backend.doorplates.service import live_plates
    from backend.registry.tables import Community
    from qr.tokens import plate_url

    async def work(_):
        community = await Community.objects().order_by(Community.id).first()
        plates = await live_plates(community.id)
        return (
            community,
            [p for p in plates if p["kind"] == "house"][:1],
            [p for p in plates if p["kind"] == "gate"][:1],
        )

    community, houses, gates = await _with_db(settings, work)
    print(f"\ndoorplates of {community.name} (all: anju plates --community {community.id}):")
    for plate in houses + gates:
        print(f"  {plate['label']}: {plate_url(settings.public_url, plate['token'])}")


def _simulator(settings: Settings, devices):
    """The simulated fleet; each device keeps the ids of the commands it executed under var/devices/."""
    from device_bridge.simulator import Simulator

    host, port, _ = settings.broker
    return Simulator(
        host,
        port,
        devices,
        settings.mqtt_prefix,
        state_dir=Path(settings.var_dir) / "devices",
        command_max_age=settings.command_max_age_seconds,
    )


async def _bridge(settings: Settings, worker: str, simulate: bool) -> None:
    """The bridge (plus the embedded broker when no external one is configured, plus the simulator)."""
    from backend.devices.service import fleet
    from device_bridge.bridge import Bridge, running
    from device_bridge.broker import embedded_broker

    async def work(ctx):
        async with contextlib.AsyncExitStack() as stack:
            host, port, external = settings.broker
            if not external:
                await stack.enter_async_context(embedded_broker(port))
                print(f"embedded MQTT broker on {host}:{port}")
            bridge = Bridge(settings, ctx.keys, worker)
            await stack.enter_async_context(running(bridge))
            print(f"bridge {worker} running (topics under {settings.mqtt_prefix}/)")
            if simulate:
                devices = await fleet(ctx)
                print(f"simulating {len(devices)} devices")
                await _simulator(settings, devices).run()
            else:
                await asyncio.Event().wait()

    await _with_db(settings, work)


def cmd_bridge(args: argparse.Namespace) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_bridge(get_settings(), args.worker, args.simulate))


async def _simulate(settings: Settings, community: int | None) -> None:
    from backend.devices.service import fleet

    async def work(ctx):
        host, port, _ = settings.broker
        devices = await fleet(ctx, community)
        print(f"simulating {len(devices)} devices against {host}:{port}")
        await _simulator(settings, devices).run()

    await _with_db(settings, work)


def cmd_simulate(args: argparse.Namespace) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_simulate(get_settings(), args.community))


async def _edge(settings: Settings, vendor: str, community: int, base: str | None) -> None:
    from backend.devices.service import community_secrets
    from device_bridge.edge import Edge

    async def work(ctx):
        code, secrets = await community_secrets(ctx, community)
        host, port, _ = settings.broker
        print(f"translating {vendor} for {code} ({len(secrets)} registered devices) on {host}:{port}")
        await Edge(host, port, settings.mqtt_prefix, code, secrets, vendor, base).run()

    await _with_db(settings, work)


def cmd_edge(args: argparse.Namespace) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_edge(get_settings(), args.vendor, args.community, args.base))


def cmd_plates(args: argparse.Namespace) -> None:
    from backend.doorplates.sheets import print_sheets

    settings = get_settings()
    report = asyncio.run(
        _with_db(settings, lambda ctx: print_sheets(settings, args.community, Path(args.out)))
    )
    print(report)
    if report.coverage < 1.0:
        raise SystemExit(1)


def cmd_audit(_: argparse.Namespace) -> None:
    from backend.audit.service import verify_chain

    report = asyncio.run(_with_db(get_settings(), lambda ctx: verify_chain()))
    if report.intact:
        print(f"audit chain intact: {report.checked} entries")
    else:
        raise SystemExit(
            f"audit chain BROKEN at entry {report.broken_at} (after {report.checked} good entries)"
        )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="anju", description="安居 Anju: smart safe residential communities")
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web server (granian)")
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)
    demo = commands.add_parser("demo", help="migrate, seed a demo district and serve it")
    demo.add_argument("--workers", type=int, default=1)
    demo.set_defaults(run=cmd_demo)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)
    commands.add_parser("seed", help="migrate and seed the demo district").set_defaults(run=cmd_seed)
    plates = commands.add_parser(
        "plates", help="issue, render (SVG, PDF) and verify a community's doorplates"
    )
    plates.add_argument("--community", type=int, required=True)
    plates.add_argument("--out", default="var/plates")
    plates.set_defaults(run=cmd_plates)
    bridge = commands.add_parser(
        "bridge", help="run an MQTT bridge worker (and the embedded broker by default)"
    )
    bridge.add_argument("--worker", default=f"{socket.gethostname()}-{os.getpid()}")
    bridge.add_argument("--simulate", action="store_true", help="also play every registered device")
    bridge.set_defaults(run=cmd_bridge)
    simulate = commands.add_parser("simulate", help="play the registered devices against the broker")
    simulate.add_argument("--community", type=int, default=None)
    simulate.set_defaults(run=cmd_simulate)
    edge = commands.add_parser(
        "edge", help="translate a vendor gateway's MQTT (Zigbee2MQTT, Frigate) into the contract"
    )
    edge.add_argument("vendor", choices=("zigbee2mqtt", "frigate"))
    edge.add_argument("--community", type=int, required=True)
    edge.add_argument("--base", default=None, help="the vendor's base topic (default: the vendor's name)")
    edge.set_defaults(run=cmd_edge)
    audit = commands.add_parser("audit", help="verify the audit trail's hash chain")
    audit.set_defaults(run=cmd_audit)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except SettingsError as exc:
        sys.exit(f"configuration error: {exc}")
    except DomainError as exc:
        sys.exit(f"anju {args.command}: {exc.message}")
