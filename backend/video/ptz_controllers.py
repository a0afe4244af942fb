from __future__ import annotations

from litestar import Controller, Request, get, post, put
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from backend.deps import Caller, Ctx, permission
from backend.ids import PathId
from backend.net import client_ip
from backend.video import ptz
from backend.video.schemas import OnvifIn, OnvifOut, PresetOut, PtzDone, PtzIn
from roles import Action

CAMERA = "/api/video/cameras/{camera_id:int}"


class PtzController(Controller):
    tags = ["video"]

    @put(f"{CAMERA}/onvif", operation_id="setCameraOnvif", opt=permission(Action.MANAGE_VIDEO))
    async def set_onvif(
        self, camera_id: PathId, data: JSONBody[OnvifIn], ctx: Ctx, who: Caller, request: Request
    ) -> OnvifOut:
        """Where the camera answers ONVIF (host, port) and the account used there; the password is
        kept sealed and never returned (null keeps the one set). ``host`` null clears it: no PTZ."""
        return await ptz.set_onvif(ctx, who, camera_id, data, client_ip(request))

    @post(
        f"{CAMERA}/ptz",
        status_code=HTTP_200_OK,
        operation_id="cameraPtz",
        opt=permission(Action.CONTROL_PTZ),
    )
    async def command(
        self, camera_id: PathId, data: JSONBody[PtzIn], ctx: Ctx, who: Caller, request: Request
    ) -> PtzDone:
        """move (ContinuousMove at pan/tilt/zoom velocities in -1…1, until stop), stop, or goto_preset,
        on the camera's first media profile. 409 camera_without_onvif; 502 camera_unreachable,
        camera_auth_failed, camera_refused; 504 camera_timeout. Audited."""
        return await ptz.command(ctx, who, camera_id, data, client_ip(request))

    @get(f"{CAMERA}/ptz/presets", operation_id="cameraPtzPresets", opt=permission(Action.CONTROL_PTZ))
    async def presets(self, camera_id: PathId, ctx: Ctx, who: Caller) -> list[PresetOut]:
        """The camera's presets (GetPresets), for goto_preset."""
        return await ptz.presets(ctx, who, camera_id)
