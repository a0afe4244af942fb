"""The demo's and tests' visitor: a signed ``ring`` command makes a (simulated) panel call a flat.

A real panel rings when a visitor keys in a room number; the simulator's panels (device_bridge/
simulator.py) take the same step on this command, so ``anju intercom call`` and the browser test
start a call through the real path: panel → MQTT ``call`` event → bridge → household's phones.
"""

from __future__ import annotations

import asyncio
import uuid

from backend.context import Context
from backend.devices.commands import CommandTarget, DeviceCommands, unavailable
from backend.devices.tables import Device, DeviceKind
from backend.errors import Conflict, NotFound
from backend.registry.tables import Community

CONNECT_SECONDS = 10.0


async def ring(ctx: Context, unit: int, house: str) -> str:
    """Make the intercom panel of ``unit`` call flat ``house``; the panel's code."""
    panel = (
        await Device.select(Device.code, Device.secret_sealed, Device.community)
        .where((Device.unit == unit) & (Device.kind == DeviceKind.INTERCOM))
        .first()
    )
    if panel is None:
        raise NotFound("no_panel", f"No intercom panel at unit {unit}")
    community = await Community.select(Community.code).where(Community.id == panel["community"]).first()
    target = CommandTarget(
        community=community["code"],
        device=panel["code"],
        secret=ctx.keys.unseal(panel["secret_sealed"]).encode(),
    )
    commands = DeviceCommands(ctx.settings)
    await commands.start()
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            while not commands.connected:
                await asyncio.sleep(0.05)
    except TimeoutError:
        await commands.stop()
        raise unavailable() from None
    try:
        ack = await commands.request(target, f"ring-{uuid.uuid4().hex[:16]}", "ring", {"house": house})
    finally:
        await commands.stop()
    if not ack.ok:
        raise Conflict("panel_refused", f"The panel did not ring: {ack.reason}")
    return panel["code"]
