"""The live-video supervisor (backend/video/live.py): ffmpeg's command, the names it serves, the
lock that gives a camera one ffmpeg per host, idle stops and unasked ends. ffmpeg itself is stood
in for by a small script (the engine is external; the supervision is ours)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec
import pytest

from backend.settings import Settings
from backend.video.live import (
    LOCK,
    PLAYLIST,
    VIEWED,
    EngineUnavailable,
    LiveVideo,
    SourceUnavailable,
    hls_command,
    probe_command,
    servable,
    try_lock,
    with_credentials,
)

RTSP = "rtsp://10.0.0.7:554/Streaming/Channels/101"


def test_ffmpeg_copies_h264_from_rtsp_over_tcp_into_a_rolling_hls_playlist(tmp_path):
    command = hls_command("ffmpeg", RTSP, tmp_path)
    line = " ".join(command)
    assert "-rtsp_transport tcp" in line and f"-i {RTSP}" in line
    assert "-c:v copy -an -f hls -hls_time 1 -hls_list_size 6" in line
    assert "delete_segments+omit_endlist" in line
    assert command[-1] == str(tmp_path / PLAYLIST)
    assert f"-hls_segment_filename {tmp_path / 'seg%06d.ts'}" in line
    assert "libx264" not in line

    transcoded = " ".join(hls_command("ffmpeg", RTSP, tmp_path, transcode=True))
    assert "-c:v libx264" in transcoded and "copy" not in transcoded
    http = hls_command("ffmpeg", "https://cam.example/live.m3u8", tmp_path)
    assert "-rtsp_transport" not in http
    probe = " ".join(probe_command("ffprobe", RTSP))
    assert (
        f"-rtsp_transport tcp -timeout 5000000 -analyzeduration 1500000 -probesize 500000 -i {RTSP}" in probe
    )


@pytest.mark.parametrize("name", ["index.m3u8", "seg000000.ts", "seg1234567890.ts"])
def test_the_playlist_and_its_segments_are_servable(name):
    assert servable(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".lock",
        ".viewed",
        ".ffmpeg.log",
        "index.m3u8.tmp",
        "seg000001.ts.tmp",
        "seg1.ts",
        "seg00000a.ts",
        "../index.m3u8",
        "..",
        "/etc/passwd",
        "seg000001.ts/..",
        "sub/seg000001.ts",
        "index.m3u8\x00",
        "SEG000001.TS",
    ],
)
def test_nothing_else_is(name):
    assert not servable(name)


def test_credentials_are_added_on_the_server_only():
    found = {"10.0.0.7:554": ("admin", "p@ss:w/rd"), "cam.local": ("viewer", "x")}
    assert with_credentials(RTSP, found) == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.7:554/Streaming/Channels/101"
    assert with_credentials("rtsp://cam.local/live", found) == "rtsp://viewer:x@cam.local/live"
    assert with_credentials("rtsp://other/live", found) == "rtsp://other/live"
    assert with_credentials("rtsp://u:p@cam.local/live", found) == "rtsp://u:p@cam.local/live"


def test_one_holder_of_a_cameras_lock(tmp_path):
    first = try_lock(tmp_path / LOCK)
    assert first is not None
    assert try_lock(tmp_path / LOCK) is None  # another process (or open file) of this host
    os.close(first)
    again = try_lock(tmp_path / LOCK)
    assert again is not None
    os.close(again)


def fake_ffmpeg(tmp_path: Path, body: str) -> str:
    """An executable standing in for ffmpeg: the playlist is its last argument."""
    script = tmp_path / "ffmpeg"
    script.write_text("#!/bin/sh\nfor last; do :; done\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


def video_for(tmp_path: Path, ffmpeg: str | None, **settings) -> LiveVideo:
    video = LiveVideo(msgspec.structs.replace(Settings(var_dir=str(tmp_path / "var")), **settings))
    video.ffmpeg = ffmpeg
    return video


async def test_without_ffmpeg_the_engine_is_unavailable(tmp_path):
    video = video_for(tmp_path, None)
    assert not video.available
    with pytest.raises(EngineUnavailable) as refused:
        await video.watch(1, RTSP)
    assert refused.value.status == 503 and refused.value.code == "video_engine_unavailable"


async def test_a_stream_nobody_asks_for_is_stopped_and_its_files_cleared(tmp_path):
    ffmpeg = fake_ffmpeg(tmp_path, 'echo "#EXTM3U" > "$last.tmp"\nmv "$last.tmp" "$last"\nexec sleep 60')
    video = video_for(tmp_path, ffmpeg, video_idle_seconds=30.0)
    await video.watch(7, RTSP)
    assert video.running(7) and video.file(7, PLAYLIST) == b"#EXTM3U\n"
    await video.check()
    assert video.running(7)  # asked for just now

    folder = video.folder(7)
    past = time.time() - 60
    os.utime(folder / VIEWED, (past, past))  # the last request, a minute ago
    await video.check()
    assert not video.running(7)
    assert not (folder / PLAYLIST).exists()
    lock = try_lock(folder / LOCK)  # released
    assert lock is not None
    os.close(lock)
    await video.stop()


async def test_a_stream_that_ends_on_its_own_is_reported_lost(tmp_path):
    ffmpeg = fake_ffmpeg(tmp_path, 'echo "rtsp://admin:secret@10.0.0.7/live: Connection refused" >&2\nexit 1')
    video = video_for(tmp_path, ffmpeg, video_start_seconds=5.0)
    told: list[tuple[int, bool, str]] = []

    async def seen(camera_id: int, lost: bool, why: str) -> None:
        told.append((camera_id, lost, why))

    video.on_video = seen
    with pytest.raises(SourceUnavailable) as refused:
        await video.watch(3, RTSP)  # ended before a playlist: the viewer is told at once
    assert "10.0.0.7" not in refused.value.message and "secret" not in refused.value.message
    assert not video.running(3)
    assert told == [(3, True, "the camera: Connection refused")]  # and the camera is lost

    started = await video.ensure(3, RTSP)  # a playlist request restarts it; it ends again
    await started.process.wait()
    await video.check()
    assert told[1:] == [(3, True, "the camera: Connection refused")]  # the alarm's detail: no address
    await video.stop()
