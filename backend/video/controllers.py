from __future__ import annotations

import datetime as dt

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.deps import Caller, Ctx, permission
from backend.guards import RAW_BODY
from backend.ids import PathId
from backend.net import client_ip
from backend.photos import PHOTO_MAX_BYTES
from backend.video import service, wall
from backend.video.schemas import (
    CameraIn,
    CameraOut,
    CameraPlace,
    CheckIn,
    CoverageOut,
    GroupIn,
    GroupOut,
    InspectionsOut,
    LiveOut,
    RecorderIn,
    RecorderOut,
    RetentionIn,
    RoundOut,
    ScheduleIn,
)
from roles import Action

COMMUNITY = "/api/communities/{community_id:int}/video"
ROUND = "/api/video/inspections/{round_id:int}"
SNAPSHOT = "/api/video/checks/{check_id:int}/snapshot"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class VideoController(Controller):
    tags = ["video"]

    @get(f"{COMMUNITY}/cameras", operation_id="videoCameras", opt=permission(Action.VIEW_VIDEO))
    async def cameras(self, community_id: PathId, who: Caller) -> list[CameraOut]:
        """The community's registered cameras: area, place, recorder channel, online state."""
        return await service.cameras(who, community_id)

    @post(
        f"{COMMUNITY}/cameras",
        status_code=HTTP_201_CREATED,
        operation_id="addVideoCamera",
        opt=permission(Action.MANAGE_VIDEO),
    )
    async def add_camera(
        self, community_id: PathId, data: JSONBody[CameraIn], who: Caller, request: Request
    ) -> CameraOut:
        """Register a camera device (provisioned under /api/devices) with the area it covers."""
        return await service.add_camera(who, community_id, data, client_ip(request))

    @put(
        "/api/video/cameras/{camera_id:int}",
        operation_id="changeVideoCamera",
        opt=permission(Action.MANAGE_VIDEO),
    )
    async def change_camera(
        self, camera_id: PathId, data: JSONBody[CameraPlace], who: Caller, request: Request
    ) -> CameraOut:
        return await service.change_camera(who, camera_id, data, client_ip(request))

    @get(f"{COMMUNITY}/recorders", operation_id="videoRecorders", opt=permission(Action.VIEW_VIDEO))
    async def recorders(self, community_id: PathId, who: Caller) -> list[RecorderOut]:
        """The community's recorders (NVR) with the retention each last reported."""
        return await service.recorders(who, community_id)

    @post(
        f"{COMMUNITY}/recorders",
        status_code=HTTP_201_CREATED,
        operation_id="addVideoRecorder",
        opt=permission(Action.MANAGE_VIDEO),
    )
    async def add_recorder(
        self, community_id: PathId, data: JSONBody[RecorderIn], who: Caller, request: Request
    ) -> RecorderOut:
        return await service.add_recorder(who, community_id, data, client_ip(request))

    @put(
        "/api/video/recorders/{recorder_id:int}",
        operation_id="changeVideoRecorder",
        opt=permission(Action.MANAGE_VIDEO),
    )
    async def change_recorder(
        self, recorder_id: PathId, data: JSONBody[RecorderIn], who: Caller, request: Request
    ) -> RecorderOut:
        return await service.change_recorder(who, recorder_id, data, client_ip(request))

    @put(
        "/api/video/recorders/{recorder_id:int}/retention",
        operation_id="reportVideoRetention",
        opt=permission(Action.MANAGE_VIDEO),
    )
    async def retention(
        self, recorder_id: PathId, data: JSONBody[RetentionIn], who: Caller, request: Request
    ) -> RecorderOut:
        """The days of video the recorder keeps now; under 30 flags its channels on the coverage."""
        return await service.report_retention(
            who, recorder_id, data.retention_days, _now(), client_ip(request)
        )

    @get(f"{COMMUNITY}/coverage", operation_id="videoCoverage", opt=permission(Action.VIEW_VIDEO))
    async def coverage(self, community_id: PathId, who: Caller) -> CoverageOut:
        """Required areas without a camera, and cameras offline or recorded under 30 days."""
        return await service.coverage_view(who, community_id)

    @put(
        f"{COMMUNITY}/inspection-schedule",
        operation_id="setInspectionSchedule",
        opt=permission(Action.MANAGE_VIDEO),
    )
    async def schedule(
        self, community_id: PathId, data: JSONBody[ScheduleIn], who: Caller, request: Request
    ) -> InspectionsOut:
        """Rounds a day (the day cut into that many windows from midnight, Wuhan time)."""
        return await service.set_schedule(who, community_id, data.rounds_per_day, client_ip(request))

    @get(f"{COMMUNITY}/inspections", operation_id="videoInspections", opt=permission(Action.VIEW_VIDEO))
    async def inspections(self, community_id: PathId, who: Caller) -> InspectionsOut:
        """The schedule, the windows of the last week it missed, and the recent rounds with their checks."""
        return await service.inspections(who, community_id, _now())

    @post(
        f"{COMMUNITY}/inspections",
        status_code=HTTP_201_CREATED,
        operation_id="startInspection",
        opt=permission(Action.INSPECT_VIDEO),
    )
    async def start(self, community_id: PathId, who: Caller) -> RoundOut:
        return await service.start_round(who, community_id, _now())

    @get(ROUND, operation_id="inspectionRound", opt=permission(Action.RECORD_INSPECTION, Action.VIEW_VIDEO))
    async def round(self, round_id: PathId, who: Caller) -> RoundOut:
        return await service.round_view(who, round_id)

    @post(
        f"{ROUND}/checks",
        status_code=HTTP_201_CREATED,
        operation_id="recordInspectionCheck",
        opt=permission(Action.RECORD_INSPECTION),
    )
    async def check(self, round_id: PathId, data: JSONBody[CheckIn], who: Caller) -> RoundOut:
        """A camera seen on one's own open round: normal, no_signal, blurred, blocked or moved."""
        return await service.record_check(who, round_id, data, _now())

    @post(
        f"{ROUND}/end",
        status_code=HTTP_200_OK,
        operation_id="endInspection",
        opt=permission(Action.RECORD_INSPECTION),
    )
    async def end(self, round_id: PathId, ctx: Ctx, who: Caller) -> RoundOut:
        return await service.end_round(ctx, who, round_id, _now())

    @put(
        SNAPSHOT,
        operation_id="attachInspectionSnapshot",
        request_max_body_size=PHOTO_MAX_BYTES,
        opt={**permission(Action.RECORD_INSPECTION), RAW_BODY: True},
    )
    async def attach_snapshot(self, check_id: PathId, who: Caller, request: Request) -> RoundOut:
        """The snapshot as the raw body, Content-Type image/jpeg, image/png or image/webp (at most 5 MB)."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        return await service.attach_snapshot(who, check_id, request.body, content_type)

    @get(SNAPSHOT, operation_id="inspectionSnapshot", opt=permission(Action.VIEW_VIDEO))
    async def snapshot(self, check_id: PathId, who: Caller, request: Request) -> Response[bytes]:
        """The snapshot (JPEG); every read is audited."""
        jpeg = await service.snapshot(who, check_id, client_ip(request))
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


LIVE = "/api/video/cameras/{camera_id:int}/live"
GROUP = "/api/video/groups/{group_id:int}"


class WallController(Controller):
    """The monitoring-room wall: live video (HLS from the streaming engine) and camera groups."""

    tags = ["video"]

    @post(LIVE, status_code=HTTP_200_OK, operation_id="watchCamera", opt=permission(Action.WATCH_VIDEO))
    async def watch(self, camera_id: PathId, who: Caller, ctx: Ctx, request: Request) -> LiveOut:
        """Start (or keep) the camera's live stream; answers its HLS playlist once there is one.
        503 video_engine_unavailable without ffmpeg, video_source_unavailable when the camera is silent."""
        return await wall.start_live(ctx, who, camera_id, client_ip(request))

    @get(
        f"{LIVE}/{{name:str}}",
        operation_id="liveVideoFile",
        opt={**permission(Action.WATCH_VIDEO), "no_compression": True},  # app.NO_COMPRESSION
    )
    async def file(self, camera_id: PathId, name: FromPath[str], who: Caller, ctx: Ctx) -> Response[bytes]:
        """The stream's playlist (index.m3u8) or a segment it names; each request keeps it running."""
        data, media_type = await wall.live_file(ctx, who, camera_id, name)
        return Response(data, media_type=media_type, headers={"Cache-Control": "private, no-store"})

    @get(
        f"{COMMUNITY}/groups",
        operation_id="cameraGroups",
        opt=permission(Action.WATCH_VIDEO, Action.VIEW_VIDEO),
    )
    async def groups(self, community_id: PathId, who: Caller) -> list[GroupOut]:
        """The community's camera groups, their cameras in patrol order (分组轮巡)."""
        return await wall.groups(who, community_id)

    @post(
        f"{COMMUNITY}/groups",
        status_code=HTTP_201_CREATED,
        operation_id="addCameraGroup",
        opt=permission(Action.MANAGE_VIDEO),
    )
    async def add_group(
        self, community_id: PathId, data: JSONBody[GroupIn], who: Caller, request: Request
    ) -> GroupOut:
        return await wall.add_group(who, community_id, data, client_ip(request))

    @put(GROUP, operation_id="changeCameraGroup", opt=permission(Action.MANAGE_VIDEO))
    async def change_group(
        self, group_id: PathId, data: JSONBody[GroupIn], who: Caller, request: Request
    ) -> GroupOut:
        return await wall.change_group(who, group_id, data, client_ip(request))

    @delete(
        GROUP,
        status_code=HTTP_204_NO_CONTENT,
        operation_id="deleteCameraGroup",
        opt=permission(Action.MANAGE_VIDEO),
    )
    async def delete_group(self, group_id: PathId, who: Caller, request: Request) -> None:
        await wall.delete_group(who, group_id, client_ip(request))
