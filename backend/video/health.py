"""Video loss (视频丢失): the stream probe and the live streams tell whether a camera's video comes.

Every ``video_probe_seconds`` one app process per host (the holder of ``hls/.probe.lock``) asks
ffprobe for each registered camera's stream, a few at a time; a live stream that ends on its own
(live.py) says the same at once. A camera's ``video_state`` flips with a conditional update, so
however many processes see it, one flip raises the ``video_loss`` alarm (a condition: raised once
when the video goes, cleared when it is back) through the alarms' lifecycle (alarms/raising.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from dataclasses import dataclass

from backend.alarms.kinds import AlarmType
from backend.alarms.raising import Signal, Source, take
from backend.alarms.tables import Alarm
from backend.db import writing
from backend.settings import Settings
from backend.video.live import LiveVideo, probe, try_lock, with_credentials
from backend.video.tables import VideoState

log = logging.getLogger("anju.video.health")

SOURCES = """
SELECT c.id, v.stream_url FROM camera c JOIN device v ON v.id = c.device
WHERE v.stream_url <> '' ORDER BY c.id
"""
FLIP = (
    "UPDATE camera SET video_state = {}, video_checked_at = {} WHERE id = {} AND video_state <> {} "
    "RETURNING device"
)
CHECKED = "UPDATE camera SET video_checked_at = {} WHERE id = {}"
DEVICE = "SELECT id, community, name, kind, latitude, longitude FROM device WHERE id = {}"


async def set_state(camera_id: int, lost: bool, detail: str, fold_seconds: float) -> bool:
    """Record what was found of the camera's video; True when it flipped (and the alarm was told)."""
    state = VideoState.LOST if lost else VideoState.OK
    now = dt.datetime.now(dt.UTC)
    async with writing(Alarm._meta.db) as writer:
        flipped = await writer.fetch(FLIP, state.value, writer.at(now), camera_id, state.value)
        if not flipped:
            await writer.many(CHECKED, [(writer.at(now), camera_id)])
            return False
        [device] = await writer.fetch(DEVICE, flipped[0]["device"])
        signal = Signal(
            key=f"video_loss:{camera_id}:{now.isoformat()}",
            device=Source.of_row(device),
            type=AlarmType.VIDEO_LOSS,
            at=now,
            active=lost,
            detail=detail[:200] if lost else "",
        )
        await take(writer, signal, fold_seconds)
    log.log(
        logging.WARNING if lost else logging.INFO,
        "camera %s: video %s%s",
        camera_id,
        state.value,
        f" ({detail})" if detail else "",
    )
    return True


async def probe_all(live: LiveVideo, settings: Settings) -> dict[int, bool]:
    """Probe every registered camera with a stream address; camera id → video found."""
    if live.ffprobe is None:
        return {}
    async with writing(Alarm._meta.db) as writer:
        rows = await writer.fetch(SOURCES)
    gate = asyncio.Semaphore(settings.video_probe_parallel)
    found: dict[int, bool] = {}

    async def one(camera_id: int, url: str) -> None:
        if live.running(camera_id):  # its own stream says more, and sooner (live.py)
            found[camera_id] = True
        else:
            async with gate:
                codec = await probe(
                    live.ffprobe,
                    with_credentials(url, live.credentials),
                    settings.video_probe_timeout_seconds,
                )
            if codec:
                live.codecs[camera_id] = codec
            found[camera_id] = codec is not None
        detail = "" if found[camera_id] else "视频丢失 / no video from the stream"
        await set_state(camera_id, not found[camera_id], detail, settings.alarm_fold_seconds)

    await asyncio.gather(*(one(row["id"], row["stream_url"]) for row in rows))
    return found


@dataclass
class Prober:
    """The probe of this process, while it holds the host's probe lock."""

    live: LiveVideo
    settings: Settings
    _lock: int | None = None
    _task: asyncio.Task | None = None

    async def start(self) -> None:
        async def seen(camera_id: int, lost: bool, why: str) -> None:
            await set_state(camera_id, lost, why, self.settings.alarm_fold_seconds)

        self.live.on_video = seen  # a live stream's start and unasked end say as much as a probe
        if self.settings.video_probe_seconds > 0 and self.live.ffprobe is not None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    async def _run(self) -> None:
        seconds = self.settings.video_probe_seconds
        while True:
            await asyncio.sleep(seconds)
            if self._lock is None:
                self.live.root.mkdir(parents=True, exist_ok=True)
                self._lock = try_lock(self.live.root / ".probe.lock")
                if self._lock is None:
                    continue  # another process of this host probes
            try:
                await probe_all(self.live, self.settings)
            except Exception:  # a passing database error must not end the probe
                log.exception("probing the cameras failed; retrying in %s s", seconds)
