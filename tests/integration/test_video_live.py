"""Live video through the streaming engine (ffmpeg → HLS) from simulated RTSP cameras (GStreamer),
video loss as alarms, and the wall's camera groups."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest

from backend.alarms.tables import Alarm
from backend.audit.tables import AuditEntry
from backend.video import health
from backend.video.live import PLAYLIST
from backend.video.tables import Camera
from roles import Role
from tests.brokers import free_port
from tests.simcams import codec_of, require_engine, rtsp_cameras, stop

WAIT = 40.0  # seconds a stream or the supervisor gets before the test gives up (not a measurement)


@pytest.fixture
def settings(settings):
    return msgspec.structs.replace(
        settings, rtsp_sim_port=free_port(), video_probe_seconds=0, video_idle_seconds=3.0
    )


async def cameras(world, side: str = "home", role: Role = Role.PROPERTY) -> list[dict]:
    community = world.home if side == "home" else world.other
    response = await world.client.get(
        f"/api/communities/{community}/video/cameras", headers=await world.headers(role, side)
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def sim(world, settings):
    """The home community's seeded cameras served by GStreamer at the addresses the seed gave them."""
    require_engine()
    found = await cameras(world)
    assert all(c["stream_url"].startswith(f"rtsp://127.0.0.1:{settings.rtsp_sim_port}/") for c in found)
    with rtsp_cameras(settings.rtsp_sim_port, [c["code"] for c in found]) as process:
        yield process, found


async def until(condition, seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.2)


async def watch(world, camera_id: int, role: Role = Role.PROPERTY):
    return await world.client.post(f"/api/video/cameras/{camera_id}/live", headers=await world.headers(role))


async def test_a_watched_camera_is_served_as_hls_of_real_h264(world, sim):
    _, found = sim
    camera = found[0]
    started = await watch(world, camera["id"])
    assert started.status_code == 200, started.text
    live = started.json()
    assert live["playlist"] == f"/api/video/cameras/{camera['id']}/live/{PLAYLIST}"
    assert "rtsp" not in started.text  # the camera's address stays on the server
    assert {c["id"]: c["video"] for c in await cameras(world)}[camera["id"]] == "ok"  # seen live

    auth = await world.headers(Role.PROPERTY)
    playlist = await world.client.get(live["playlist"], headers=auth)
    assert playlist.status_code == 200
    assert playlist.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    segments = [line for line in playlist.text.splitlines() if line and not line.startswith("#")]
    assert segments and all(s.startswith("seg") and s.endswith(".ts") for s in segments)

    segment = await world.client.get(f"/api/video/cameras/{camera['id']}/live/{segments[-1]}", headers=auth)
    assert segment.status_code == 200 and segment.headers["content-type"] == "video/mp2t"
    assert "content-encoding" not in segment.headers  # H.264 is compressed already: no gzip on top
    assert codec_of(segment.content) == "h264,320,240"  # the camera's own H.264, copied

    police = await watch(world, camera["id"], Role.POLICE)  # the community police watch too
    assert police.status_code == 200, police.text
    assert (await watch(world, camera["id"])).status_code == 200  # the same viewer again
    audited = await AuditEntry.count().where(
        (AuditEntry.action == "watch_live_video") & (AuditEntry.subject == f"camera:{camera['id']}")
    )
    assert audited == 2  # who watched which camera: once per viewer (in AUDIT_SECONDS)


async def test_only_names_ffmpeg_writes_are_served(world, sim):
    _, found = sim
    camera = found[0]
    assert (await watch(world, camera["id"])).status_code == 200
    auth = await world.headers(Role.PROPERTY)
    for name in (
        ".lock",
        ".viewed",
        ".ffmpeg.log",
        "index.m3u8.tmp",
        "seg1.ts",
        "..%2F..%2Fanju.sqlite",
        "x.mp4",
    ):
        response = await world.client.get(f"/api/video/cameras/{camera['id']}/live/{name}", headers=auth)
        assert response.status_code == 404, (name, response.status_code)
    absent = await world.client.get(f"/api/video/cameras/{camera['id']}/live/seg999999.ts", headers=auth)
    assert absent.status_code == 404 and absent.json()["extra"]["code"] == "not_streaming"


async def test_an_unwatched_stream_stops_and_a_second_process_runs_no_second_ffmpeg(world, sim):
    _, found = sim
    camera = found[1]
    video = world.client.ctx.video
    assert (await watch(world, camera["id"])).status_code == 200
    assert video.running(camera["id"])

    # Another app process of this host (granian worker): it serves the files, starts no ffmpeg.
    from backend.video.live import LiveVideo

    other = LiveVideo(world.client.ctx.settings)
    assert await other.ensure(camera["id"], camera["stream_url"]) is None
    assert other.file(camera["id"], PLAYLIST) is not None

    async def stopped() -> bool:
        await video.check()
        return not video.running(camera["id"])

    await until(stopped)  # nobody asked for ANJU_VIDEO_IDLE_SECONDS
    assert not (video.folder(camera["id"]) / PLAYLIST).exists()
    assert await other.ensure(camera["id"], camera["stream_url"]) is not None  # the lock is free again
    await other.stop()


async def alarms_of(device_id: int) -> list[dict]:
    return await Alarm.select().where((Alarm.device == device_id) & (Alarm.type == "video_loss"))


async def test_a_stopped_source_raises_one_video_loss_alarm_cleared_when_back(world, sim, settings):
    process, found = sim
    video = world.client.ctx.video

    async def probed() -> set[bool]:  # the home community's cameras (the other's are not simulated)
        seen = await health.probe_all(video, settings)
        return {seen[c["id"]] for c in found}

    assert await probed() == {True}
    assert {c["video"] for c in await cameras(world)} == {"ok"}

    stop(process)
    for _ in range(2):  # the next probe finds the video still lost: nothing more is raised
        assert await probed() == {False}
    for camera in found:
        [alarm] = await alarms_of(camera["device_id"])
        assert alarm["state"] == "new" and alarm["cleared_at"] is None
    listed = await cameras(world)
    assert {c["video"] for c in listed} == {"lost"}
    coverage = await world.client.get(
        f"/api/communities/{world.home}/video/coverage", headers=await world.headers(Role.PROPERTY)
    )
    assert {f["camera_id"] for f in coverage.json()["flags"] if f["reason"] == "video_lost"} == {
        c["id"] for c in found
    }

    with rtsp_cameras(world.client.ctx.settings.rtsp_sim_port, [c["code"] for c in found]):
        assert await probed() == {True}
    for camera in found:
        [alarm] = await alarms_of(camera["device_id"])
        assert alarm["cleared_at"] is not None  # recovery noted on the same alarm
    assert {c["video"] for c in await cameras(world)} == {"ok"}


async def test_a_live_stream_whose_source_stops_raises_video_loss(world, sim):
    process, found = sim
    camera = found[2]
    video = world.client.ctx.video
    assert (await watch(world, camera["id"])).status_code == 200
    stop(process)

    async def lost() -> bool:
        video.keep_alive(camera["id"])  # still watched
        await video.check()
        return bool(await alarms_of(camera["device_id"]))

    await until(lost)
    assert (await Camera.select(Camera.video_state).where(Camera.id == camera["id"]).first()) == {
        "video_state": "lost"
    }
    again = await watch(world, camera["id"])
    assert again.status_code == 503 and again.json()["extra"]["code"] == "video_source_unavailable"
    assert len(await alarms_of(camera["device_id"])) == 1


async def test_without_ffmpeg_the_live_view_answers_503(world):
    [camera, *_] = await cameras(world)
    world.client.ctx.video.ffmpeg = None  # as on a server without the ffmpeg package
    response = await watch(world, camera["id"])
    assert response.status_code == 503 and response.json()["extra"]["code"] == "video_engine_unavailable"
    playlist = await world.client.get(
        f"/api/video/cameras/{camera['id']}/live/{PLAYLIST}", headers=await world.headers(Role.PROPERTY)
    )
    assert playlist.status_code == 503


async def test_camera_groups_are_kept_in_patrol_order(world):
    home = [c["id"] for c in await cameras(world)]
    other = [c["id"] for c in await cameras(world, "other")]
    path = f"/api/communities/{world.home}/video/groups"
    auth = await world.headers(Role.PROPERTY)
    made = await world.client.post(
        path, json={"name": "周界与出入口", "dwell_seconds": 5, "camera_ids": home[::-1]}, headers=auth
    )
    assert made.status_code == 201, made.text
    group = made.json()
    assert group["camera_ids"] == home[::-1] and group["dwell_seconds"] == 5

    police = await world.client.get(path, headers=await world.headers(Role.POLICE))
    assert police.status_code == 200
    seeded = [g["name"] for g in police.json() if g["id"] != group["id"]]
    assert seeded == ["全部摄像机", "周界"] and police.json()[-1] == group

    changed = await world.client.put(
        f"/api/video/groups/{group['id']}",
        json={"name": "出入口", "dwell_seconds": 8, "camera_ids": home[:2]},
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["camera_ids"] == home[:2] and changed.json()["name"] == "出入口"

    for body, code in (
        ({"name": "x", "camera_ids": [other[0]]}, "unknown_camera"),
        ({"name": "x", "camera_ids": [home[0], home[0]]}, "duplicate_camera"),
        ({"name": "x", "dwell_seconds": 1}, None),
        ({"name": ""}, None),
    ):
        refused = await world.client.post(path, json=body, headers=auth)
        assert refused.status_code in (400, 422), refused.text
        if code:
            assert refused.json()["extra"]["code"] == code

    gone = await world.client.delete(f"/api/video/groups/{group['id']}", headers=auth)
    assert gone.status_code == 204
    assert group["id"] not in {g["id"] for g in (await world.client.get(path, headers=auth)).json()}
