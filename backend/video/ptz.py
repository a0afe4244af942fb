"""PTZ (云台) of the cameras that answer ONVIF: their address and credentials (the password sealed,
never returned), and the commands the monitoring room sends them, each one audited."""

from __future__ import annotations

from typing import Any

from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.errors import Conflict, DomainError, Invalid, NotFound
from backend.registry import service as registry
from backend.text import plain_text
from backend.video import onvif
from backend.video.schemas import OnvifIn, OnvifOut, PresetOut, PtzAction, PtzDone, PtzIn
from backend.video.tables import Camera, CameraOnvif
from roles import Action, Principal, authorize


async def _camera(who: Principal, camera_id: int, action: Action) -> dict[str, Any]:
    row = await Camera.select(Camera.id, Camera.community).where(Camera.id == camera_id).first()
    if row is None:
        raise NotFound("unknown_camera", f"No camera {camera_id}")
    authorize(who, action, await registry.community_target(row["community"]))
    return row


def _out(camera_id: int, row: dict[str, Any] | None) -> OnvifOut:
    if row is None:
        return OnvifOut(camera_id=camera_id, ptz=False, host="", port=80, username="", password_set=False)
    return OnvifOut(
        camera_id=camera_id,
        ptz=True,
        host=row["host"],
        port=row["port"],
        username=row["username"],
        password_set=bool(row["password_sealed"]),
    )


async def _onvif_row(camera_id: int) -> dict[str, Any] | None:
    return await CameraOnvif.select().where(CameraOnvif.camera == camera_id).first()


async def set_onvif(ctx: Context, who: Principal, camera_id: int, data: OnvifIn, ip: str) -> OnvifOut:
    """Set (or, with no host, clear) where the camera answers ONVIF and the account used there."""
    camera = await _camera(who, camera_id, Action.MANAGE_VIDEO)
    before = await _onvif_row(camera_id)
    async with transaction(CameraOnvif._meta.db):
        if data.host is None:
            await CameraOnvif.delete().where(CameraOnvif.camera == camera_id)
            detail: dict[str, Any] = {"ptz": False}
        else:
            username = plain_text(data.username, "username")
            if data.password is not None:
                sealed = ctx.keys.seal(data.password) if data.password else ""
            else:
                sealed = before["password_sealed"] if before else ""
            row = CameraOnvif(
                camera=camera_id, host=data.host, port=data.port, username=username, password_sealed=sealed
            )
            columns = [CameraOnvif.host, CameraOnvif.port, CameraOnvif.username, CameraOnvif.password_sealed]
            await CameraOnvif.insert(row).on_conflict(
                target=CameraOnvif.camera, action="DO UPDATE", values=[*columns, CameraOnvif.updated_at]
            )
            detail = {
                "ptz": True,
                "host": data.host,
                "port": data.port,
                "username": username,
                "password_changed": data.password is not None,
            }
        await audit.record(
            who,
            "set_camera_onvif",
            f"camera:{camera_id}",
            community=camera["community"],
            ip=ip,
            detail=detail,
        )
    return _out(camera_id, await _onvif_row(camera_id))


async def _address(ctx: Context, camera_id: int) -> onvif.OnvifAddress:
    row = await _onvif_row(camera_id)
    if row is None:
        raise Conflict(
            "camera_without_onvif", "This camera has no ONVIF address: set one to control it (PTZ)"
        )
    password = ctx.keys.unseal(row["password_sealed"]) if row["password_sealed"] else ""
    return onvif.OnvifAddress(row["host"], row["port"], row["username"], password)


async def command(ctx: Context, who: Principal, camera_id: int, data: PtzIn, ip: str) -> PtzDone:
    """Move (until stopped), stop, or go to a preset, on the camera's first media profile; audited
    with who sent it, what, and how the camera answered."""
    camera = await _camera(who, camera_id, Action.CONTROL_PTZ)
    if data.action is PtzAction.GOTO_PRESET and data.preset is None:
        raise Invalid("preset_required", "Name the preset to go to", field="preset")
    address = await _address(ctx, camera_id)
    timeout = ctx.settings.onvif_timeout_seconds
    detail: dict[str, Any] = {"action": data.action.value}
    if data.action is PtzAction.MOVE:
        detail |= {"pan": data.pan, "tilt": data.tilt, "zoom": data.zoom}
    elif data.action is PtzAction.GOTO_PRESET:
        detail["preset"] = data.preset
    try:
        match data.action:
            case PtzAction.MOVE:
                await onvif.move(address, timeout, data.pan, data.tilt, data.zoom)
            case PtzAction.STOP:
                await onvif.stop(address, timeout)
            case PtzAction.GOTO_PRESET:
                await onvif.goto_preset(address, timeout, data.preset or "")
        detail["result"] = "ok"
    except DomainError as exc:
        detail["result"] = exc.code
        raise
    finally:
        async with transaction(CameraOnvif._meta.db):
            await audit.record(
                who, "ptz", f"camera:{camera_id}", community=camera["community"], ip=ip, detail=detail
            )
    return PtzDone(camera_id=camera_id, action=data.action)


async def presets(ctx: Context, who: Principal, camera_id: int) -> list[PresetOut]:
    await _camera(who, camera_id, Action.CONTROL_PTZ)
    address = await _address(ctx, camera_id)
    found = await onvif.presets(address, ctx.settings.onvif_timeout_seconds)
    return [PresetOut(token=p.token, name=p.name) for p in found]
