"""Live video through the streaming engine: ffmpeg turns a camera's RTSP stream into HLS.

Anju does not stream video itself. While someone watches a camera, ffmpeg reads its RTSP stream
(TCP, the H.264 copied as it comes; transcoded only when the source sends something else) and
writes a short HLS playlist with one-second segments into ``{var_dir}/hls/<camera id>/``; the app
serves those files to signed-in viewers (the browser plays them with hls.js). Every viewer request
touches ``.viewed`` in that folder; ffmpeg is stopped ``video_idle_seconds`` after the last one.

Several app processes (granian workers) share a host and its folders: whoever takes the folder's
``.lock`` (fcntl, released by the kernel when its holder dies) runs the camera's one ffmpeg, the
others only serve its files. ffmpeg dies with the process that started it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from backend.errors import DomainError
from backend.settings import Settings

log = logging.getLogger("anju.video.live")

PLAYLIST = "index.m3u8"
SEGMENT = re.compile(r"seg\d{6,10}\.ts")
SEGMENT_PATTERN = "seg%06d.ts"
MEDIA_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}
LOCK, VIEWED, LOG = ".lock", ".viewed", ".ffmpeg.log"
SOCKET_TIMEOUT_US = 5_000_000  # ffmpeg gives up on a silent source after this long (microseconds)
STALLED_SECONDS = 10.0  # a running ffmpeg whose playlist has not changed this long has lost its source
CHECK_EVERY = 1.0
PR_SET_PDEATHSIG = 1

# Told what a live stream found of a camera's video: camera id, lost or not, why (health.py).
VideoHook = Callable[[int, bool, str], Awaitable[None]]


class EngineUnavailable(DomainError):
    status = 503

    def __init__(self) -> None:
        super().__init__(
            "video_engine_unavailable", "The streaming engine (ffmpeg) is not installed on this server"
        )


class SourceUnavailable(DomainError):
    status = 503

    def __init__(self, why: str) -> None:
        super().__init__("video_source_unavailable", f"The camera's stream cannot be read: {why}")


def servable(name: str) -> bool:
    """Only the names ffmpeg writes: the playlist and its numbered segments (no paths, no temp files)."""
    return name == PLAYLIST or SEGMENT.fullmatch(name) is not None


def media_type(name: str) -> str:
    return MEDIA_TYPES[Path(name).suffix]


def hls_command(ffmpeg: str, source: str, folder: Path, transcode: bool = False) -> list[str]:
    """ffmpeg reading ``source`` into a rolling HLS playlist (six one-second segments) in ``folder``."""
    video = (
        ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "25", "-sc_threshold", "0"]
        if transcode
        else ["-c:v", "copy"]
    )
    return [
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        *_input(source),
        "-map",
        "0:v:0",
        *video,
        "-an",
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_list_size",
        "6",
        "-hls_flags",
        "delete_segments+omit_endlist+temp_file",
        "-hls_segment_filename",
        str(folder / SEGMENT_PATTERN),
        str(folder / PLAYLIST),
    ]


def probe_command(ffprobe: str, source: str) -> list[str]:
    """ffprobe naming the codec of the source's first video stream (empty output: none)."""
    return [
        ffprobe,
        "-v",
        "error",
        *_input(source, analyse=True),
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_name",
        "-of",
        "csv=p=0",
    ]


def _input(source: str, analyse: bool = False) -> list[str]:
    rtsp = urlsplit(source).scheme in ("rtsp", "rtsps")
    options = ["-rtsp_transport", "tcp", "-timeout", str(SOCKET_TIMEOUT_US)] if rtsp else []
    if analyse:
        options += ["-analyzeduration", "1500000", "-probesize", "500000"]
    return [*options, "-i", source]


def load_credentials(path: str) -> dict[str, tuple[str, str]]:
    """``host[:port] user:password`` lines (``#`` comments) of ANJU_VIDEO_CREDENTIALS_FILE."""
    found: dict[str, tuple[str, str]] = {}
    if not path:
        return found
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where, _, secret = line.partition(" ")
        user, _, password = secret.strip().partition(":")
        found[where.lower()] = (user, password)
    return found


def with_credentials(source: str, credentials: dict[str, tuple[str, str]]) -> str:
    """The address ffmpeg is given: the registry's, with the host's credentials from the server's file."""
    parts = urlsplit(source)
    host = (parts.hostname or "").lower()
    found = credentials.get(f"{host}:{parts.port}") if parts.port else None
    found = found or credentials.get(host)
    if not found or "@" in parts.netloc:
        return source
    user, password = (quote(value, safe="") for value in found)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def try_lock(path: Path) -> int | None:
    """An exclusive lock on ``path`` held through the returned descriptor; None: someone holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@dataclass
class _Stream:
    camera_id: int
    folder: Path
    lock: int
    process: asyncio.subprocess.Process
    started: float = field(default_factory=time.monotonic)
    stopping: bool = False


class LiveVideo:
    """This process's ffmpeg per watched camera (those whose lock it holds), stopped when idle."""

    def __init__(self, settings: Settings) -> None:
        self.root = Path(settings.var_dir) / "hls"
        self.idle_seconds = settings.video_idle_seconds
        self.start_seconds = settings.video_start_seconds
        self.ffmpeg = shutil.which("ffmpeg")
        self.ffprobe = shutil.which("ffprobe")
        self.credentials = load_credentials(settings.video_credentials_file)
        self.codecs: dict[int, str] = {}  # each camera's codec, as the probe last found it
        self.on_video: VideoHook | None = None
        # wall.py's per-process memory: where each camera is (for a while), whose watching was audited.
        self.places: dict[int, tuple[float, Any]] = {}
        self.audited: dict[tuple[int | None, int], float] = {}
        self._streams: dict[int, _Stream] = {}
        self._task: asyncio.Task | None = None

    @property
    def available(self) -> bool:
        return self.ffmpeg is not None

    def folder(self, camera_id: int) -> Path:
        return self.root / str(int(camera_id))

    def running(self, camera_id: int) -> bool:
        stream = self._streams.get(camera_id)
        return stream is not None and stream.process.returncode is None

    # --- viewers ---------------------------------------------------------------------------------

    def keep_alive(self, camera_id: int) -> None:
        """A viewer asked: the stream lives ``idle_seconds`` more (whichever process runs it)."""
        folder = self.folder(camera_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VIEWED).touch()

    async def watch(self, camera_id: int, source: str) -> None:
        """Start (or keep) the camera's stream; returns once its playlist is there."""
        if not self.available:
            raise EngineUnavailable()
        playlist = self.folder(camera_id) / PLAYLIST
        deadline = time.monotonic() + self.start_seconds
        while True:
            self.keep_alive(camera_id)  # the viewer is waiting: a slow start is no idle stream
            stream = await self.ensure(camera_id, source)
            if playlist.exists():
                await self._tell(camera_id, False, "")
                return
            if stream is not None and stream.process.returncode is not None:
                why = self._why(stream)
                self._release(stream)
                await self._tell(camera_id, True, why)
                raise SourceUnavailable(why)
            if time.monotonic() > deadline:
                raise SourceUnavailable("no video within the start time")
            await asyncio.sleep(0.2)

    async def ensure(self, camera_id: int, source: str) -> _Stream | None:
        """This process's running stream of the camera, started if no process runs one; None:
        another process runs it."""
        if not self.available:
            raise EngineUnavailable()
        stream = self._streams.get(camera_id)
        if stream is not None:
            return stream
        folder = self.folder(camera_id)
        folder.mkdir(parents=True, exist_ok=True)
        lock = try_lock(folder / LOCK)
        if lock is None:
            return None
        try:
            _clear(folder)
            transcode = self.codecs.get(camera_id, "h264") != "h264"
            command = hls_command(self.ffmpeg, with_credentials(source, self.credentials), folder, transcode)
            with (folder / LOG).open("wb") as errors:
                process = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=errors,
                    preexec_fn=die_with_parent,
                )
        except BaseException:
            os.close(lock)
            raise
        stream = self._streams[camera_id] = _Stream(camera_id, folder, lock, process)
        log.info("camera %s: ffmpeg %s started", camera_id, process.pid)
        return stream

    def file(self, camera_id: int, name: str) -> bytes | None:
        """A playlist or segment of the camera's stream as ffmpeg wrote it; None if not (or no longer) there."""
        if not servable(name):
            return None
        self.keep_alive(camera_id)
        with contextlib.suppress(FileNotFoundError):
            return (self.folder(camera_id) / name).read_bytes()
        return None

    # --- supervision -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._supervise())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for stream in list(self._streams.values()):
            await self._stop(stream)

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY)
            try:
                await self.check()
            except Exception:  # a passing failure (a database error in the hook) must not end supervision
                log.exception("live video supervision failed; going on")

    async def check(self) -> None:
        """Stop the idle streams; release those that ended, telling ``on_video`` of an unasked end."""
        now = time.time()
        for stream in list(self._streams.values()):
            ended = stream.process.returncode is not None
            if not ended and _age(stream.folder / VIEWED, now) > self.idle_seconds:
                log.info("camera %s: nobody watching, ffmpeg stopped", stream.camera_id)
                await self._stop(stream)
                continue
            stalled = not ended and self._stalled(stream, now)
            if stalled:
                await self._stop(stream)
            if ended or stalled:
                why = "no new video" if stalled else self._why(stream)
                self._release(stream)
                if not stream.stopping or stalled:
                    log.warning("camera %s: stream ended: %s", stream.camera_id, why)
                    await self._tell(stream.camera_id, True, why)

    async def _tell(self, camera_id: int, lost: bool, why: str) -> None:
        if self.on_video is not None:
            await self.on_video(camera_id, lost, why)

    def _stalled(self, stream: _Stream, now: float) -> bool:
        if time.monotonic() - stream.started < STALLED_SECONDS:
            return False
        return _age(stream.folder / PLAYLIST, now) > STALLED_SECONDS

    def _why(self, stream: _Stream) -> str:
        with contextlib.suppress(OSError):
            text = (stream.folder / LOG).read_text(errors="replace").strip().splitlines()
            if text:
                return _no_address(text[-1])[:200]
        return f"ffmpeg exited ({stream.process.returncode})"

    async def _stop(self, stream: _Stream) -> None:
        stream.stopping = True
        if stream.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                stream.process.terminate()
            try:
                await asyncio.wait_for(stream.process.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    stream.process.kill()
                await stream.process.wait()
        self._release(stream)

    def _release(self, stream: _Stream) -> None:
        if self._streams.get(stream.camera_id) is stream:
            del self._streams[stream.camera_id]
            _clear(stream.folder)
            os.close(stream.lock)


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _clear(folder: Path) -> None:
    """The stream's files (a stopped stream's playlist must not look live)."""
    for path in folder.iterdir():
        if servable(path.name) or path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)


def _no_address(text: str) -> str:
    """ffmpeg's message without the camera's address (nor any credentials in it): it reaches viewers."""
    return re.sub(r"\b[a-z][a-z0-9+.-]*://\S+?(?=:?(?:\s|$))", "the camera", text, flags=re.IGNORECASE)


async def probe(ffprobe: str, source: str, timeout: float) -> str | None:
    """The codec of the source's video (``h264``…), or None: no video within ``timeout`` seconds."""
    process = await asyncio.create_subprocess_exec(
        *probe_command(ffprobe, source),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return None
    codec = out.decode(errors="replace").strip().splitlines()
    return codec[0].strip() if process.returncode == 0 and codec and codec[0].strip() else None
