"""A local GA/T 1400 视图库 for tests and bench/uplink.py: the police image platform's part, in-process.

It checks what a real 视图库 checks of the platform (``backend/uplink/viid.py``):

- ``POST /VIID/System/Register`` needs HTTP digest auth (RFC 7616, MD5, qop=auth) with its user
  and password: without it, or with a wrong one, 401 with a fresh challenge;
- every other request names a registered device in ``User-Identify``, else 401 (a restarted
  视图库 has forgotten every registration: :meth:`down` forgets them too);
- ``/VIID/System/Keepalive`` is counted; ``/VIID/Faces``, ``/VIID/MotorVehicles`` and
  ``/VIID/APEs`` are checked object by object (the list wrapper, required keys, 20-digit codes,
  14-digit times, each image's base64 ``Data`` decoding to a JPEG, or a ``StoragePath``), and
  answered with one ``ResponseStatusObject`` per object: ``StatusCode`` 0, or 8 (Invalid JSON
  Content) with what is wrong. An object is applied once by its ID; a repeat is answered 0 and counted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from aiohttp import web

from tests.uplink_receiver import free_port

REALM = "viid-stub"
CODE = re.compile(r"^\d{20}$")
TIME = re.compile(r"^\d{14}$")
INVALID_CONTENT = 8
# resource → (list object, object list key, ID field, required keys)
SHAPES = {
    "Faces": ("FaceListObject", "FaceObject", "FaceID", ("InfoKind", "SourceID", "DeviceID", "SubImageList")),
    "MotorVehicles": (
        "MotorVehicleListObject",
        "MotorVehicleObject",
        "MotorVehicleID",
        ("InfoKind", "SourceID", "DeviceID", "PlateNo", "PlateClass", "PassTime"),
    ),
    "APEs": ("APEListObject", "APEObject", "ApeID", ("Name", "PlaceCode", "IsOnline")),
}
CODES = ("FaceID", "MotorVehicleID", "ApeID", "DeviceID", "SourceID", "ImageID")


@dataclass
class ViidStub:
    user: str
    password: str
    port: int = field(default_factory=free_port)
    registered: set[str] = field(default_factory=set)
    registrations: int = 0
    refused: int = 0  # requests answered 401 (no or wrong credentials, or not registered)
    keepalives: int = 0
    received: dict[str, dict[str, dict]] = field(default_factory=dict)  # resource → ID → object
    deliveries: Counter = field(default_factory=Counter)  # (resource, ID) → times answered 0
    invalid: list[str] = field(default_factory=list)  # why objects were refused
    _nonces: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_post("/VIID/System/Register", self._register)
        app.router.add_post("/VIID/System/Keepalive", self._keepalive)
        app.router.add_post("/VIID/{resource}", self._objects)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def down(self) -> None:
        """Stop listening, and forget every registration (as a restarted 视图库 does)."""
        runner, self._runner = self._runner, None
        self.registered.clear()
        if runner is not None:
            await runner.cleanup()

    def repeats(self) -> dict:
        return {key: count for key, count in self.deliveries.items() if count > 1}

    # --- the system ----------------------------------------------------------------------

    async def _register(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._challenge()
        device = _get(await _json(request), "RegisterObject", "DeviceID")
        if not isinstance(device, str) or not CODE.match(device):
            return _status(request, INVALID_CONTENT, "DeviceID: not 20 digits", str(device), 400)
        self.registered.add(device)
        self.registrations += 1
        return _status(request, 0, "OK", device)

    async def _keepalive(self, request: web.Request) -> web.Response:
        device = request.headers.get("User-Identify", "")
        if (
            device not in self.registered
            or _get(await _json(request), "KeepaliveObject", "DeviceID") != device
        ):
            self.refused += 1
            return _status(request, 4, "not registered", device, 401)
        self.keepalives += 1
        return _status(request, 0, "OK", device)

    def _challenge(self) -> web.Response:
        self.refused += 1
        nonce = secrets.token_hex(16)
        self._nonces.add(nonce)
        challenge = f'Digest realm="{REALM}", nonce="{nonce}", qop="auth", algorithm=MD5'
        return web.json_response(
            {"error": "unauthorised"}, status=401, headers={"WWW-Authenticate": challenge}
        )

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return False
        given = dict(re.findall(r'(\w+)="?([^",]*)"?', header[len("Digest ") :]))
        if given.get("username") != self.user or given.get("nonce") not in self._nonces:
            return False
        ha1 = _md5(f"{self.user}:{REALM}:{self.password}")
        ha2 = _md5(f"{request.method}:{given.get('uri', '')}")
        expected = _md5(f"{ha1}:{given['nonce']}:{given.get('nc', '')}:{given.get('cnonce', '')}:auth:{ha2}")
        return given.get("qop") == "auth" and secrets.compare_digest(expected, given.get("response", ""))

    # --- the objects ---------------------------------------------------------------------

    async def _objects(self, request: web.Request) -> web.Response:
        if request.headers.get("User-Identify", "") not in self.registered:
            self.refused += 1
            return _status(request, 4, "not registered", "", 401)
        resource = request.match_info["resource"]
        if resource not in SHAPES:
            return web.json_response({"error": "unknown resource"}, status=404)
        wrapper, listed, id_field, required = SHAPES[resource]
        objects = _get(await _json(request), wrapper, listed)
        if not isinstance(objects, list) or not objects:
            return _status(request, INVALID_CONTENT, f"{wrapper}.{listed}: expected a list", "", 400)
        statuses = []
        for found in objects:
            problem = _problem(found, id_field, required, images=resource != "APEs")
            object_id = str(found.get(id_field, "")) if isinstance(found, dict) else ""
            if problem:
                self.invalid.append(problem)
                statuses.append(_status_object(request, INVALID_CONTENT, problem, object_id))
                continue
            self.received.setdefault(resource, {}).setdefault(object_id, found)
            self.deliveries[resource, object_id] += 1
            statuses.append(_status_object(request, 0, "OK", object_id))
        return web.json_response({"ResponseStatusListObject": {"ResponseStatusObject": statuses}})


def _problem(found: object, id_field: str, required: tuple[str, ...], images: bool) -> str:
    """What makes ``found`` not a valid object, or ""."""
    if not isinstance(found, dict):
        return "not an object"
    missing = [key for key in (id_field, *required) if found.get(key) in (None, "")]
    if missing:
        return f"missing {', '.join(missing)}"
    for key in CODES:
        if key in found and not CODE.match(str(found[key])):
            return f"{key}: not 20 digits"
    for key in ("PassTime", "FaceAppearTime", "LocationMarkTime"):
        if key in found and not TIME.match(str(found[key])):
            return f"{key}: not YYYYMMDDhhmmss"
    if not images:
        return ""
    pictures = _get(found, "SubImageList", "SubImageInfoObject")
    if "SubImageList" in found and not (isinstance(pictures, list) and pictures):
        return "SubImageList.SubImageInfoObject: expected a list"
    for picture in pictures or []:
        if problem := _picture_problem(picture):
            return problem
    return ""


def _picture_problem(picture: dict) -> str:
    if not CODE.match(str(picture.get("ImageID", ""))) or not TIME.match(str(picture.get("ShotTime", ""))):
        return "SubImageInfoObject: ImageID or ShotTime malformed"
    if picture.get("StoragePath") and "Data" not in picture:
        return ""
    try:
        data = base64.b64decode(picture.get("Data", ""), validate=True)
    except (binascii.Error, ValueError):
        return "SubImageInfoObject.Data: not base64"
    return "" if data.startswith(b"\xff\xd8\xff") else "SubImageInfoObject.Data: not a JPEG"


def _get(document: object, *path: str) -> object:
    for key in path:
        document = document.get(key) if isinstance(document, dict) else None
    return document


async def _json(request: web.Request) -> object:
    try:
        return msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        return None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - digest auth's MD5


def _status_object(request: web.Request, code: int, text: str, object_id: str) -> dict:
    return {
        "RequestURL": request.path,
        "StatusCode": code,
        "StatusString": text,
        "Id": object_id,
        "LocalTime": datetime.now().strftime("%Y%m%d%H%M%S"),
    }


def _status(request: web.Request, code: int, text: str, object_id: str, http: int = 200) -> web.Response:
    return web.json_response(
        {"ResponseStatusObject": _status_object(request, code, text, object_id)}, status=http
    )
