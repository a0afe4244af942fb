"""Each app process's live machinery: the wake-up listener, the stream tailer and the push worker."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from backend.keys import Keys
from backend.live import push, stream, wakeup
from backend.settings import Settings


class Live:
    """This process's wake-up, stream hub and push worker; the app starts and stops them."""

    def __init__(self, settings: Settings, keys: Keys) -> None:
        self.settings = settings
        self.wakeup = wakeup.Wakeup(settings)
        retention = timedelta(hours=settings.live_retention_hours)
        self.hub = stream.Hub(self.wakeup, settings.live_poll, retention)
        self.pusher = push.Pusher(settings, keys, self.wakeup)
        self.public_key = push.application_server_key(keys)
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        wakeup.install(self.wakeup)
        self._tasks = [
            asyncio.create_task(job, name=f"live-{name}")
            for name, job in (
                ("wake-ups", self.wakeup.listen()),
                ("tailer", self.hub.run()),
                ("push", self.pusher.run()),
            )
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        if not tasks:  # never started, or stopped already
            return
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await wakeup.uninstall(self.wakeup)
