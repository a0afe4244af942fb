"""The device registry: provisioning with a per-device secret, status, maintenance notifications."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from backend.access import service as access
from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.devices.schemas import DeviceIn, DeviceOut, DeviceProvisioned, NotificationOut
from backend.devices.tables import DOOR_KINDS, Device, DeviceKind, Notification
from backend.errors import Conflict, Invalid, NotFound
from backend.registry.service import community_target
from backend.registry.tables import Building, Community, Gate, House, Unit
from backend.text import plain_text
from device_bridge import protocol
from device_bridge.acl import Account, Policy, device_account, device_password, platform_account
from device_bridge.simulator import DeviceSpec
from roles import Action, Principal, Role, authorize


def _out(row: dict[str, Any]) -> DeviceOut:
    return DeviceOut(
        id=row["id"],
        code=row["code"],
        kind=row["kind"],
        name=row["name"],
        online=bool(row["online"]),
        last_seen=row["last_seen"],
        battery=row["battery"],
        heartbeat_seconds=row["heartbeat_seconds"],
        stream_url=row["stream_url"],
        model=row["model"],
    )


async def list_devices(who: Principal, community_id: int) -> list[DeviceOut]:
    authorize(who, Action.VIEW_DEVICES, await community_target(community_id))
    rows = (
        await Device.select(
            Device.id,
            Device.code,
            Device.kind,
            Device.name,
            Device.online,
            Device.last_seen,
            Device.battery,
            Device.heartbeat_seconds,
            Device.stream_url,
            Device.model,
        )
        .where(Device.community == community_id)
        .order_by(Device.code)
    )
    return [_out(row) for row in rows]


async def provision(ctx: Context, who: Principal, data: DeviceIn, ip: str) -> DeviceProvisioned:
    target = await community_target(data.community_id)
    authorize(who, Action.MANAGE_DEVICES, target)
    stream_url = checked_stream_url(data.stream_url, data.kind)
    place = await _place(data)
    secret = secrets.token_hex(32)
    async with transaction(Device._meta.db):
        if await Device.exists().where(Device.code == data.code):
            raise Conflict("device_code_taken", f"A device with code {data.code!r} exists", field="code")
        device = Device(
            community=data.community_id,
            code=data.code,
            kind=data.kind,
            name=plain_text(data.name, "name"),
            model=plain_text(data.model, "model"),
            **place,
            zone=plain_text(data.zone, "zone"),
            latitude=data.latitude,
            longitude=data.longitude,
            heartbeat_seconds=data.heartbeat_seconds,
            stream_url=stream_url,
            secret_sealed=ctx.keys.seal(secret),
        )
        await device.save()
        await audit.record(who, "provision_device", f"device:{device.id}", community=data.community_id, ip=ip)
    return await _provisioned(ctx, device.id, secret)


async def rotate_secret(ctx: Context, who: Principal, device_id: int, ip: str) -> DeviceProvisioned:
    """A new signing secret (a leaked or a reused one), shown this once; the old one stops signing."""
    row = await Device.select(Device.community).where(Device.id == device_id).first()
    if row is None:
        raise NotFound("unknown_device", f"No device {device_id}")
    authorize(who, Action.MANAGE_DEVICES, await community_target(row["community"]))
    secret = secrets.token_hex(32)
    async with transaction(Device._meta.db):
        await Device.update({Device.secret_sealed: ctx.keys.seal(secret)}).where(Device.id == device_id)
        await audit.record(
            who, "rotate_device_secret", f"device:{device_id}", community=row["community"], ip=ip
        )
    return await _provisioned(ctx, device_id, secret)


PLACES = (("gate", Gate), ("building", Building), ("unit", Unit), ("house", House))


async def _place(data: DeviceIn) -> dict[str, int | None]:
    """Where the device stands, each place of its own community; a flat brings its building and unit."""
    place: dict[str, int | None] = {}
    for name, table in PLACES:
        place_id = getattr(data, f"{name}_id")
        if place_id is None:
            continue
        row = await table.select().where(table.id == place_id).first()
        if row is None or row["community"] != data.community_id:
            raise Invalid("not_in_community", f"No {name} {place_id} in this community", field=f"{name}_id")
        place[name] = place_id
        if name == "house":
            place |= {"building": row["building"], "unit": row["unit"]}
    return place


async def _provisioned(ctx: Context, device_id: int, secret: str) -> DeviceProvisioned:
    """What a device is configured with: its topics, its secret and its broker account."""
    row = await Device.select(*Device.all_columns(), Device.community.code.as_alias("community_code")).where(
        Device.id == device_id
    )
    events = protocol.topic(
        ctx.settings.mqtt_prefix, row[0]["community_code"], row[0]["code"], protocol.Channel.EVENT
    )
    return DeviceProvisioned(
        device=_out(row[0]),
        topic_prefix=events.rsplit("/", 1)[0],
        secret=secret,
        mqtt_username=row[0]["code"],
        mqtt_password=device_password(secret.encode()),
    )


STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})


def checked_stream_url(url: str, kind: DeviceKind) -> str:
    """A camera's stream address as the board may show it: rtsp(s) or http(s), a host, no credentials."""
    url = url.strip()
    if not url:
        return ""
    if kind != DeviceKind.CAMERA:
        raise Invalid("not_a_camera", "Only a camera has a stream address", field="stream_url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise Invalid("stream_url", "The stream address is not a URL", field="stream_url") from None
    if parts.scheme not in STREAM_SCHEMES or not parts.hostname:
        raise Invalid("stream_url", "Use an rtsp:// or https:// address with a host", field="stream_url")
    if parts.username or parts.password:
        raise Invalid(
            "stream_url_credentials",
            "Keep the camera's password in the recorder, not in the address every board shows",
            field="stream_url",
        )
    return url


async def set_stream_url(who: Principal, device_id: int, url: str, ip: str) -> DeviceOut:
    row = await Device.select().where(Device.id == device_id).first()
    if row is None:
        raise NotFound("unknown_device", f"No device {device_id}")
    authorize(who, Action.MANAGE_DEVICES, await community_target(row["community"]))
    stream_url = checked_stream_url(url, DeviceKind(row["kind"]))
    async with transaction(Device._meta.db):
        await Device.update({Device.stream_url: stream_url}).where(Device.id == device_id)
        await audit.record(who, "set_stream_url", f"device:{device_id}", community=row["community"], ip=ip)
    return _out(row | {"stream_url": stream_url})


async def maintenance_notifications(who: Principal, community_id: int) -> list[NotificationOut]:
    """What the maintenance centre is told (devices gone offline…), newest first."""
    authorize(who, Action.VIEW_DEVICES, await community_target(community_id))
    rows = (
        await Notification.select()
        .where((Notification.community == community_id) & (Notification.role == Role.MAINTENANCE))
        .order_by(Notification.id, ascending=False)
        .limit(100)
    )
    return [
        NotificationOut(
            id=r["id"], kind=r["kind"], subject=r["subject"], message=r["message"], created_at=r["created_at"]
        )
        for r in rows
    ]


# How the simulator plays each kind: door kinds as themselves, smoke sensors (rare smoke alarms), SOS
# buttons (rare presses), meters (water readings), screens (display and clear notices), Wi-Fi probes
# (MAC sightings); the rest only heartbeat.
SIMULATED_AS = {kind: kind.value for kind in DOOR_KINDS} | {
    DeviceKind.EMERGENCY_BUTTON: "emergency_button",
    DeviceKind.SMOKE_SENSOR: "sensor",
    DeviceKind.METER: "water_meter",
    DeviceKind.SCREEN: "screen",
    DeviceKind.WIFI_PROBE: "wifi_probe",
}


async def fleet(ctx: Context, community_id: int | None = None) -> list[DeviceSpec]:
    """Every device with its secret (door devices: their door ids and the community's pass key), as the simulator plays them."""
    query = Device.select(
        Device.id,
        Device.code,
        Device.kind,
        Device.secret_sealed,
        Device.heartbeat_seconds,
        Device.community,
        Device.community.code.as_alias("community_code"),
    )
    if community_id is not None:
        query = query.where(Device.community == community_id)
    doors = await access.device_doors()
    return [
        DeviceSpec(
            community=row["community_code"],
            code=row["code"],
            kind=SIMULATED_AS.get(row["kind"], "device"),
            secret=ctx.keys.unseal(row["secret_sealed"]).encode(),
            heartbeat=row["heartbeat_seconds"],
            pass_key=ctx.keys.pass_public_key(row["community"]),
            doors=doors.get(row["id"], {}),
        )
        for row in await query.order_by(Device.id)
    ]


async def mqtt_accounts(ctx: Context, platform_user: str, platform_password: str) -> list[Account]:
    """Everyone the broker admits (acl.py): the platform's account and every device's own."""
    prefix = ctx.settings.mqtt_prefix
    devices = [device_account(prefix, spec.community, spec.code, spec.secret) for spec in await fleet(ctx)]
    return [platform_account(prefix, platform_user, platform_password), *devices]


async def mqtt_policy(ctx: Context, platform_user: str, platform_password: str) -> Policy:
    """What the embedded broker enforces; reloaded from the registry when an unknown user connects,
    so a device provisioned while it runs is admitted at once."""

    async def accounts() -> list[Account]:
        return await mqtt_accounts(ctx, platform_user, platform_password)

    return Policy(await accounts(), reload=accounts)


async def community_secrets(ctx: Context, community_id: int) -> tuple[str, dict[str, bytes]]:
    """A community's code and its devices' secrets by code: what an edge translator signs with."""
    community = await Community.select(Community.code).where(Community.id == community_id).first()
    if community is None:
        raise NotFound("unknown_community", f"No community {community_id}")
    rows = await Device.select(Device.code, Device.secret_sealed).where(Device.community == community_id)
    return community["code"], {row["code"]: ctx.keys.unseal(row["secret_sealed"]).encode() for row in rows}


# --- for other domains (alarms: zones, emergency buttons) ---------------------------------------

STATUS_COLUMNS = (
    Device.id,
    Device.community,
    Device.code,
    Device.kind,
    Device.name,
    Device.online,
    Device.battery,
    Device.last_seen,
    Device.house,
    Device.stream_url,
    Device.gate,
    Device.building,
    Device.unit,
)


async def device_by_code(code: str) -> dict[str, Any] | None:
    """A device by its code (a button's serial, printed in its QR), with its status."""
    return await Device.select(*STATUS_COLUMNS).where(Device.code == code).first()


async def devices_by_id(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Devices with their status, by id; unknown ids are absent."""
    if not ids:
        return {}
    rows = await Device.select(*STATUS_COLUMNS).where(Device.id.is_in(ids))
    return {row["id"]: row for row in rows}


async def devices_of_kind(community_id: int, kind: DeviceKind) -> list[dict[str, Any]]:
    return (
        await Device.select(*STATUS_COLUMNS)
        .where((Device.community == community_id) & (Device.kind == kind))
        .order_by(Device.code)
    )


async def place_at(device_id: int, gate: int | None, building: int | None, unit: int | None) -> None:
    """Say where a device stands (a camera's gate, building or unit); the caller checked the places."""
    await Device.update({Device.gate: gate, Device.building: building, Device.unit: unit}).where(
        Device.id == device_id
    )


async def place_in_house(device_id: int, house: dict[str, Any] | None) -> None:
    """Give a device a flat (its building and unit too), or take it away (``None``)."""
    place = house or {"id": None, "building": None, "unit": None}
    await Device.update(
        {Device.house: place["id"], Device.building: place["building"], Device.unit: place["unit"]}
    ).where(Device.id == device_id)


async def placed_states(communities: list[int]) -> list[dict[str, Any]]:
    """Every device of these communities: its kind, where it is placed, whether it is online (for
    compliance, which maps kinds onto the standard's subsystems; the caller authorizes)."""
    return await Device.select(
        Device.community, Device.kind, Device.gate, Device.building, Device.unit, Device.house, Device.online
    ).where(Device.community.is_in(communities or [0]))
