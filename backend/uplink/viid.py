"""GA/T 1400 (视图库, "VIID"): the second uplink target, for face and vehicle captures and the
capture devices (APE) that took them.

The protocol as public implementations show it (``shared/notes/uplink.md``): the platform
registers as ``ANJU_VIID_DEVICE_ID`` (``POST /VIID/System/Register``, HTTP digest auth), keeps
alive (``POST /VIID/System/Keepalive`` every ``ANJU_VIID_KEEPALIVE_SECONDS``, header
``User-Identify``), and posts objects in list wrappers: ``/VIID/Faces`` (``FaceListObject``),
``/VIID/MotorVehicles`` (``MotorVehicleListObject``), ``/VIID/APEs`` (``APEListObject``). The
answer is a ``ResponseStatusListObject``: one ``ResponseStatusObject`` per object, by ``Id``,
``StatusCode`` 0 for OK. A refused keepalive or a 401 to a post means the 视图库 forgot us: we
register again before the next post.

Codes are 20 digits, derived from what we store, so a record keeps its code on every resend::

    <6: the community's district (XZQH)> <2: industry, 01 社会治安社区接入 (GB/T 28181)>
    <3: type> <9: our id, modulo 10⁹>

Types: 132 a capture device (GB/T 28181 网络摄像机: face gates and plate cameras), and for
records the codes our 视图库 objects use: 901 a face, 902 a motor vehicle, 903 a face's image. A
record's id is its passage's; a device's is its registry id. Ids wrap past 10⁹ passages per type
and district, far beyond the time a capture stays anywhere.

The outbox keeps each object sealed until the 视图库 took it, the capture inside it as base64
``SubImageList.SubImageInfoObject[].Data``; a sent row keeps no payload (``sender.FINISH``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec

from backend.process import in_background
from backend.settings import Settings
from backend.uplink.outbox import PENDING, REJECTED, SENT
from backend.uplink.transports import REASON_LENGTH, RETRIED_STATUSES, Due, Outcome

log = logging.getLogger("anju.uplink.viid")
SHANGHAI = ZoneInfo("Asia/Shanghai")
INDUSTRY = "01"  # GB/T 28181 行业编码: 社会治安社区接入
CAPTURE_DEVICE, FACE, MOTOR_VEHICLE, FACE_IMAGE = "132", "901", "902", "903"
SERIAL_DIGITS = 9
FACES, MOTOR_VEHICLES, APES = "Faces", "MotorVehicles", "APEs"
# resource → (list object, object list key, the object's ID field)
RESOURCES = {
    FACES: ("FaceListObject", "FaceObject", "FaceID"),
    MOTOR_VEHICLES: ("MotorVehicleListObject", "MotorVehicleObject", "MotorVehicleID"),
    APES: ("APEListObject", "APEObject", "ApeID"),
}
NAMES = {FACES: "视图库 人脸", MOTOR_VEHICLES: "视图库 机动车", APES: "视图库 采集设备"}
OK = 0
# StatusCode: 2 device busy, 3 device error, 9 rebooting: the 视图库's trouble, not the object's.
RETRIED_CODES = frozenset({2, 3, 9})
FACE_PICTURE, VEHICLE_PICTURE = "11", "01"  # SubImageInfo Type: 人脸图, 车辆大图
AUTOMATIC = 1  # InfoKind: 自动采集
ONLINE = "1"  # APE IsOnline


def code(area: str, kind: str, serial: int) -> str:
    """A 20-digit GA/T 1400 code: district, industry, type, serial."""
    return f"{area[:6]:0>6}{INDUSTRY}{kind}{serial % 10**SERIAL_DIGITS:0{SERIAL_DIGITS}d}"


def viid_time(at: dt.datetime) -> str:
    """``YYYYMMDDhhmmss`` in China Standard Time."""
    return at.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def _image(image_id: str, device_id: str, kind: str, at: str, data: bytes) -> dict[str, Any]:
    return {
        "ImageID": image_id,
        "EventSort": 0,
        "DeviceID": device_id,
        "Type": kind,
        "FileFormat": "Jpeg" if data.startswith(b"\xff\xd8") else "Png",
        "ShotTime": at,
        "Data": base64.b64encode(data).decode(),
    }


def face_object(area: str, passage: int, device: int, at: dt.datetime, image: bytes) -> dict[str, Any]:
    """A face gate's capture as a ``FaceObject`` with its image."""
    device_id, shot = code(area, CAPTURE_DEVICE, device), viid_time(at)
    image_id = code(area, FACE_IMAGE, passage)
    return {
        "FaceID": code(area, FACE, passage),
        "InfoKind": AUTOMATIC,
        "SourceID": image_id,
        "DeviceID": device_id,
        "LocationMarkTime": shot,
        "FaceAppearTime": shot,
        "FaceDisAppearTime": shot,
        "SubImageList": {"SubImageInfoObject": [_image(image_id, device_id, FACE_PICTURE, shot, image)]},
    }


def motor_vehicle_object(
    area: str, passage: int, device: int, at: dt.datetime, plate: str, hpzl: str, color: str, picture: str
) -> dict[str, Any]:
    """A plate read as a ``MotorVehicleObject``: the camera keeps its snapshot, the object names it
    (``StoragePath``), as the plate event carries a reference, never the image."""
    device_id, shot = code(area, CAPTURE_DEVICE, device), viid_time(at)
    record = code(area, MOTOR_VEHICLE, passage)
    found = {
        "MotorVehicleID": record,
        "InfoKind": AUTOMATIC,
        "SourceID": record,
        "DeviceID": device_id,
        "HasPlate": "1",
        "PlateClass": hpzl,
        "PlateColor": color,
        "PlateNo": plate,
        "PassTime": shot,
    }
    if picture:
        image = {"ImageID": record, "EventSort": 0, "DeviceID": device_id, "Type": VEHICLE_PICTURE}
        found["StorageUrl1"] = picture
        found["SubImageList"] = {
            "SubImageInfoObject": [{**image, "FileFormat": "Jpeg", "ShotTime": shot, "StoragePath": picture}]
        }
    return {key: value for key, value in found.items() if value != ""}


def ape_object(area: str, device: int, name: str, longitude: float | None, latitude: float | None) -> dict:
    """A capture device (face gate, plate camera) as an ``APEObject``."""
    found = {
        "ApeID": code(area, CAPTURE_DEVICE, device),
        "Name": name,
        "Model": "anju",
        "PlaceCode": area,
        "Longitude": longitude,
        "Latitude": latitude,
        "IsOnline": ONLINE,
    }
    return {key: value for key, value in found.items() if value is not None}


# --- the transport ----------------------------------------------------------------------------


class _Status(msgspec.Struct):
    Id: str = ""
    StatusCode: int = OK
    StatusString: str = ""


class _StatusList(msgspec.Struct):
    ResponseStatusObject: list[_Status] = []


class _ListAnswer(msgspec.Struct):
    ResponseStatusListObject: _StatusList = msgspec.field(default_factory=_StatusList)


class _Answer(msgspec.Struct):
    ResponseStatusObject: _Status = msgspec.field(default_factory=_Status)


class ViidTransport:
    """Registered with the 视图库 while it runs; posts each resource's objects as one list."""

    def __init__(self, settings: Settings) -> None:
        self._base = settings.viid_url.rstrip("/")
        self._device = settings.viid_device_id
        self._auth = httpx.DigestAuth(settings.viid_user, settings.viid_password)
        self._timeout = settings.uplink_timeout_seconds
        self._every = settings.viid_keepalive_seconds
        self._client: httpx.AsyncClient | None = None
        self._registered = False
        self._refusal = ""  # why the last registration failed: every record's error meanwhile
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            self._client = client
            try:
                async with in_background(self._keep_alive(), "viid-keepalive"):
                    yield
            finally:
                self._client, self._registered = None, False

    async def send(self, resource: str, rows: list[Due]) -> dict[str, Outcome]:
        keys = [row.key for row in rows]
        if not await self._ensure_registered():
            return dict.fromkeys(keys, Outcome(PENDING, self._refusal))
        wrapper, listed, id_field = RESOURCES[resource]
        objects = [msgspec.json.decode(row.payload) for row in rows]
        body = msgspec.json.encode({wrapper: {listed: objects}})
        try:
            response = await self._post(f"/VIID/{resource}", body)
        except httpx.HTTPError as exc:
            return dict.fromkeys(keys, Outcome(PENDING, f"VIID: no answer ({type(exc).__name__})"))
        status = response.status_code
        if status == 401:  # the 视图库 forgot our registration (restarted, expired): register again
            self._registered = False
            return dict.fromkeys(keys, Outcome(PENDING, "VIID: HTTP 401, registering again"))
        if not 200 <= status < 300:
            state = REJECTED if 400 <= status < 500 and status not in RETRIED_STATUSES else PENDING
            return dict.fromkeys(keys, Outcome(state, f"VIID: HTTP {status}"))
        statuses = {
            s.Id: s
            for s in _decoded(response.content, _ListAnswer).ResponseStatusListObject.ResponseStatusObject
        }
        return {
            row.key: _outcome(statuses.get(obj.get(id_field, "")))
            for row, obj in zip(rows, objects, strict=True)
        }

    async def _post(self, path: str, body: bytes, **options: Any) -> httpx.Response:
        assert self._client is not None
        headers = {"Content-Type": "application/VIID+JSON", "User-Identify": self._device}
        return await self._client.post(self._base + path, content=body, headers=headers, **options)

    async def _ensure_registered(self) -> bool:
        async with self._lock:
            if not self._registered:
                await self._register()
            return self._registered

    async def _register(self) -> None:
        body = msgspec.json.encode({"RegisterObject": {"DeviceID": self._device}})
        try:
            response = await self._post("/VIID/System/Register", body, auth=self._auth)
        except httpx.HTTPError as exc:
            self._refusal = f"VIID register: no answer ({type(exc).__name__})"
            return
        answer = _decoded(response.content, _Answer).ResponseStatusObject
        if response.is_success and answer.StatusCode == OK:
            if self._refusal:
                log.info("registered with the 视图库 again")
            self._registered, self._refusal = True, ""
            return
        refusal = f"VIID register refused: HTTP {response.status_code}"
        if answer.StatusCode != OK:
            refusal += f", {answer.StatusCode} {answer.StatusString}"
        if refusal != self._refusal:
            log.warning("%s (check ANJU_VIID_USER, ANJU_VIID_PASSWORD, ANJU_VIID_DEVICE_ID)", refusal)
        self._refusal = refusal[:REASON_LENGTH]

    async def _keep_alive(self) -> None:
        """Register (again) when needed, else keep alive; a refused keepalive means register again."""
        while True:
            if not await self._ensure_registered():
                await asyncio.sleep(self._every)
                continue
            body = msgspec.json.encode({"KeepaliveObject": {"DeviceID": self._device}})
            try:
                response = await self._post("/VIID/System/Keepalive", body)
                alive = (
                    response.is_success
                    and _decoded(response.content, _Answer).ResponseStatusObject.StatusCode == OK
                )
            except httpx.HTTPError:
                alive = False
            if not alive:
                self._registered = False
            await asyncio.sleep(self._every if alive else min(self._every, 1.0))


def _decoded(content: bytes, shape: type) -> Any:
    """The 视图库's answer, or its empty shape if it said nothing readable."""
    try:
        return msgspec.json.decode(content, type=shape)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return shape()


def _outcome(status: _Status | None) -> Outcome:
    """An object the answer does not name was taken, as with the HTTP target."""
    if status is None or status.StatusCode == OK:
        return Outcome(SENT)
    reason = f"VIID {status.StatusCode} {status.StatusString}".strip()[:REASON_LENGTH]
    return Outcome(PENDING if status.StatusCode in RETRIED_CODES else REJECTED, reason)
