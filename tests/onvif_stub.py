"""A local ONVIF camera for tests: a SOAP 1.2 server answering what onvif-zeep-async asks of a PTZ
camera, and recording the moves it was told to make.

It serves the device service (GetServices, GetCapabilities, GetSystemDateAndTime), the media
service (GetProfiles) and the PTZ service (ContinuousMove, Stop, GetPresets, GotoPreset) at the
addresses its GetServices names. Every call but GetSystemDateAndTime must carry a WS-Security
UsernameToken whose PasswordDigest (Base64(SHA-1(nonce + created + password))) matches the stub's
password, else it answers the ONVIF ``ter:NotAuthorized`` fault, as cameras do. ``hang`` makes it
accept requests and never answer (a camera that went away mid-call).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import threading
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from aiohttp import web

from tests.brokers import free_port

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TT = "http://www.onvif.org/ver10/schema"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
PROFILE = "profile_main"
PRESETS = {"1": "大门", "2": "停车场"}


@dataclass(frozen=True)
class Received:
    """One PTZ command as the camera read it off the wire."""

    op: str  # ContinuousMove | Stop | GotoPreset
    profile: str
    pan: float | None = None
    tilt: float | None = None
    zoom: float | None = None
    preset: str | None = None
    user: str = ""


def _envelope(body: str, status: int = 200) -> web.Response:
    text = (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP}" xmlns:tt="{TT}" '
        f'xmlns:tds="{TDS}" xmlns:trt="{TRT}" xmlns:tptz="{TPTZ}" '
        f'xmlns:ter="http://www.onvif.org/ver10/error"><env:Body>{body}</env:Body></env:Envelope>'
    )
    return web.Response(text=text, status=status, content_type="application/soap+xml", charset="utf-8")


def _fault(subcode: str, reason: str) -> web.Response:
    return _envelope(
        "<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode>"
        f"<env:Value>ter:{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason></env:Fault>',
        status=400,
    )


def _number(element: ET.Element | None, name: str) -> float | None:
    return float(element.get(name)) if element is not None and element.get(name) is not None else None


@dataclass
class OnvifStub:
    username: str = "admin"
    password: str = "cam-pass-1"
    received: list[Received] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # every operation asked for, authorised or not
    hang: bool = False
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def moves(self) -> list[Received]:
        return list(self.received)

    def _authorised(self, header: ET.Element | None) -> str | None:
        """The user whose digest is right, or None."""
        token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken") if header is not None else None
        if token is None:
            return None
        user = token.findtext(f"{{{WSSE}}}Username") or ""
        digest = token.findtext(f"{{{WSSE}}}Password") or ""
        nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
        created = token.findtext(f"{{{WSU}}}Created") or ""
        expected = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()
        ).decode()
        return user if user == self.username and digest == expected else None

    async def _soap(self, request: web.Request) -> web.Response:
        if self.hang:
            await asyncio.sleep(3600)
        root = ET.fromstring(await request.read())
        body = root.find(f"{{{SOAP}}}Body")
        call = body[0] if body is not None and len(body) else None
        if call is None:
            return _fault("InvalidArgVal", "No operation")
        op = call.tag.split("}")[-1]
        self.calls.append(op)
        if op == "GetSystemDateAndTime":
            return _envelope(
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
                "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
            )
        user = self._authorised(root.find(f"{{{SOAP}}}Header"))
        if user is None:
            return _fault("NotAuthorized", "Sender not Authorized")
        handler = getattr(self, f"_{op}", None)
        if handler is None:
            return _fault("ActionNotSupported", f"{op} is not supported")
        return handler(call, user)

    def _GetServices(self, call: ET.Element, user: str) -> web.Response:  # noqa: N802
        services = "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{self.base}/onvif/{path}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>0</tt:Minor></tds:Version></tds:Service>"
            for ns, path in ((TDS, "device_service"), (TRT, "media_service"), (TPTZ, "ptz_service"))
        )
        return _envelope(f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>")

    def _GetCapabilities(self, call: ET.Element, user: str) -> web.Response:  # noqa: N802
        return _envelope(
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Media><tt:XAddr>{self.base}/onvif/media_service</tt:XAddr></tt:Media>"
            f"<tt:PTZ><tt:XAddr>{self.base}/onvif/ptz_service</tt:XAddr></tt:PTZ>"
            "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    def _GetProfiles(self, call: ET.Element, user: str) -> web.Response:  # noqa: N802
        return _envelope(
            f'<trt:GetProfilesResponse><trt:Profiles token="{PROFILE}" fixed="true"><tt:Name>main</tt:Name>'
            '</trt:Profiles><trt:Profiles token="profile_sub" fixed="true"><tt:Name>sub</tt:Name>'
            "</trt:Profiles></trt:GetProfilesResponse>"
        )

    def _ContinuousMove(self, call: ET.Element, user: str) -> web.Response:  # noqa: N802
        velocity = call.find(f"{{{TPTZ}}}Velocity")
        pan_tilt = velocity.find(f"{{{TT}}}PanTilt") if velocity is not None else None
        zoom = velocity.find(f"{{{TT}}}Zoom") if velocity is not None else None
        self.received.append(
            Received(
                "ContinuousMove",
                call.findtext(f"{{{TPTZ}}}ProfileToken") or "",
                pan=_number(pan_tilt, "x"),
                tilt=_number(pan_tilt, "y"),
                zoom=_number(zoom, "x"),
                user=user,
            )
        )
        return _envelope("<tptz:ContinuousMoveResponse/>")

    def _Stop(self, call: ET.Element, user: str) -> web.Response:  # noqa: N802
        self.received.append(Received("Stop", call.findtext(f"{{{TPTZ}}}ProfileToken") or "", user=user))
        return _envelope("<tptz:StopResponse/>")

    def _GetPresets(self, call: ET.Element, user: str) -> web.Response:  # noqa: N802
        presets = "".join(
            f'<tptz:Preset token="{token}"><tt:Name>{name}</tt:Name></tptz:Preset>'
            for token, name in PRESETS.items()
        )
        return _envelope(f"<tptz:GetPresetsResponse>{presets}</tptz:GetPresetsResponse>")

    def _GotoPreset(self, call: ET.Element, user: str) -> web.Response:  # noqa: N802
        token = call.findtext(f"{{{TPTZ}}}PresetToken") or ""
        if token not in PRESETS:
            return _fault("NoToken", f"No preset {token}")
        profile = call.findtext(f"{{{TPTZ}}}ProfileToken") or ""
        self.received.append(Received("GotoPreset", profile, preset=token, user=user))
        return _envelope("<tptz:GotoPresetResponse/>")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[OnvifStub]:
        app = web.Application()
        app.router.add_post("/onvif/{service}", self._soap)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        self.port = self.port or free_port()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        try:
            yield self
        finally:
            await runner.cleanup()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[OnvifStub]:
        """On a loop of its own: for the browser tests' server, or to be stopped mid-test."""
        loop = asyncio.new_event_loop()
        started, stop = threading.Event(), asyncio.Event()

        async def serve() -> None:
            async with self.running():
                started.set()
                await stop.wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
        thread.start()
        assert started.wait(10), "the ONVIF stub did not start"
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()
