"""The notice channel to screens and broadcast devices: a signed ``display`` command to every screen of
the community when a notice is published (by the app, or by a bridge worker when a scheduled one is
due), and a ``clear`` when it is withdrawn.

Sent after the publication has committed, on whichever MQTT connection the process has (the app's
command connection, a bridge worker's own session): the feed and the push are the record, a screen is
a copy of it. A broker that is away then costs that copy, which is logged; the screen takes a notice off
by itself at ``until``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import aiomqtt
import msgspec

from backend.context import Context
from backend.devices.commands import CommandSender, CommandServiceUnavailable, CommandTarget
from backend.devices.tables import Device, DeviceKind
from backend.keys import Keys
from device_bridge.protocol import CommandAction, DisplayData

log = logging.getLogger("anju.notices")

SHOWN_FOR = dt.timedelta(days=7)  # a screen's ``until``: notices are news, not an archive
EXCERPT = 120  # characters of the body a screen shows; the PWA has the rest


class Screens:
    """Sends notices to the screens of their community, signed with each screen's own secret."""

    def __init__(self, sender: CommandSender, keys: Keys) -> None:
        self._sender, self._keys = sender, keys

    @classmethod
    def of(cls, ctx: Context) -> Screens:
        return cls(ctx.commands.sender, ctx.keys)

    async def show(self, notices: list[dict[str, Any]]) -> None:
        """``display`` each just-published notice (rows with id, community, title, body, urgent)."""
        until = (dt.datetime.now(dt.UTC) + SHOWN_FOR).isoformat()
        for row in notices:
            shown = DisplayData(
                notice=row["id"],
                title=row["title"],
                body=row["body"][:EXCERPT],
                urgent=bool(row["urgent"]),
                until=until,
            )
            await self._send(row["community"], CommandAction.DISPLAY, shown)

    async def clear(self, notice_id: int, community_id: int) -> None:
        await self._send(community_id, CommandAction.CLEAR, DisplayData(notice=notice_id))

    async def _send(self, community_id: int, action: CommandAction, data: DisplayData) -> None:
        # One id per notice and action: a device executes it once however often it arrives.
        command_id = f"notice-{data.notice}-{action}"
        for target in await self._screens(community_id):
            try:
                await self._sender.send(target, command_id, action, msgspec.to_builtins(data))
            except (CommandServiceUnavailable, aiomqtt.MqttError) as exc:
                log.warning(
                    "%s of notice %s not sent to screen %s: %s", action, data.notice, target.device, exc
                )

    async def _screens(self, community_id: int) -> list[CommandTarget]:
        rows = await Device.select(
            Device.code, Device.secret_sealed, Device.community.code.as_alias("community_code")
        ).where((Device.community == community_id) & (Device.kind == DeviceKind.SCREEN))
        return [
            CommandTarget(
                community=row["community_code"],
                device=row["code"],
                secret=self._keys.unseal(row["secret_sealed"]).encode(),
            )
            for row in rows
        ]
