"""PTZ over ONVIF, through onvif-zeep-async: each command asks the camera for its services and its
first media profile, then sends ContinuousMove, Stop, GetPresets or GotoPreset on that profile.

Every exchange with the camera is bounded by one timeout; whatever the camera does (not there,
wrong password, a SOAP fault, garbage) becomes a clear 502 or 504, never a 500. The camera's
password is used here only, in the WS-Security digest, and never appears in an error.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from backend.errors import DomainError, Invalid

log = logging.getLogger("anju.onvif")
T = TypeVar("T")


class CameraUnreachable(DomainError):
    """The camera could not be reached, refused us, or answered nonsense."""

    status = 502


class CameraTimeout(DomainError):
    status = 504


@dataclass(frozen=True)
class OnvifAddress:
    host: str
    port: int
    username: str
    password: str

    def __repr__(self) -> str:  # never the password, even in a log line
        return f"OnvifAddress({self.host}:{self.port}, user={self.username!r})"


@dataclass(frozen=True)
class Preset:
    token: str
    name: str


@cache
def _onvif() -> ModuleType:
    """Imported on first use, keeping the logging set-up it would change (it calls basicConfig)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    import onvif.client

    root.handlers[:], root.level = handlers, level
    return onvif.client


async def _warm(client: ModuleType) -> None:
    """Parse the three WSDLs once per process outside the camera's timeout (a second or two)."""
    load = getattr(client, "_cached_document", None)
    if load is None:
        return
    for name in ("devicemgmt.wsdl", "media.wsdl", "ptz.wsdl"):
        await load(str(Path(client._WSDL_PATH) / name))


PROXY_VARIABLES = ("http_proxy", "https_proxy")


def _camera(client: ModuleType, address: OnvifAddress) -> Any:
    """ONVIFCamera, whose constructor deletes the process's http(s)_proxy variables: they are put
    back, for the rest of the app (web push, SMS) that may need them."""
    kept = {name: os.environ[name] for name in PROXY_VARIABLES if name in os.environ}
    try:
        return client.ONVIFCamera(
            address.host, address.port, address.username or None, address.password or None, no_cache=True
        )
    finally:
        os.environ.update(kept)


def _fault_code(exc: Any) -> str:
    codes = [str(exc.code or ""), *(str(s) for s in (getattr(exc, "subcodes", None) or []))]
    return " ".join(codes)


async def call(address: OnvifAddress, timeout: float, command: Callable[[Any, str], Awaitable[T]]) -> T:
    """Run ``command(ptz_service, profile_token)`` against the camera, within ``timeout`` seconds."""
    client = _onvif()
    import aiohttp
    import zeep.exceptions

    await _warm(client)
    camera = _camera(client, address)
    where = f"{address.host}:{address.port}"
    try:
        async with asyncio.timeout(timeout):
            await camera.update_xaddrs()
            media = await camera.create_media_service()
            profiles = await media.GetProfiles()
            if not profiles:
                raise CameraUnreachable("camera_no_profile", f"The camera at {where} has no media profile")
            ptz = await camera.create_ptz_service()
            return await command(ptz, profiles[0].token)
    except DomainError:
        raise
    except TimeoutError:
        raise CameraTimeout(
            "camera_timeout", f"The camera at {where} did not answer within {timeout:g} s"
        ) from None
    except zeep.exceptions.Fault as exc:
        if "NoToken" in _fault_code(exc):
            raise Invalid("unknown_preset", "The camera has no such preset", field="preset") from None
        if "NotAuthorized" in _fault_code(exc) or "not authorized" in str(exc.message or "").lower():
            raise CameraUnreachable(
                "camera_auth_failed", f"The camera at {where} refused the ONVIF user name or password"
            ) from None
        raise CameraUnreachable(
            "camera_refused", f"The camera at {where} refused the command: {str(exc.message)[:200]}"
        ) from None
    except zeep.exceptions.TransportError as exc:
        if exc.status_code == 401:
            raise CameraUnreachable(
                "camera_auth_failed", f"The camera at {where} refused the ONVIF user name or password"
            ) from None
        raise CameraUnreachable(
            "camera_refused", f"The camera at {where} answered HTTP {exc.status_code}"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise CameraUnreachable(
            "camera_unreachable", f"The camera at {where} cannot be reached ({type(exc).__name__})"
        ) from None
    except client.ONVIFError as exc:
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientError | OSError):
            raise CameraUnreachable(
                "camera_unreachable", f"The camera at {where} cannot be reached ({type(cause).__name__})"
            ) from None
        if "support service" in str(exc):
            raise CameraUnreachable("camera_no_ptz", f"The camera at {where} offers no PTZ service") from None
        log.warning("ONVIF error from %s: %s", where, exc)
        raise CameraUnreachable(
            "camera_error", f"The camera at {where} answered in a way we do not understand"
        ) from None
    except Exception as exc:  # a device's nonsense (bad XML, missing fields) must not become a 500
        log.warning("unexpected answer from the camera at %s: %s: %s", where, type(exc).__name__, exc)
        raise CameraUnreachable(
            "camera_error", f"The camera at {where} answered in a way we do not understand"
        ) from None
    finally:
        await camera.close()


def _velocity(pan: float, tilt: float, zoom: float) -> dict[str, Any]:
    return {"PanTilt": {"x": pan, "y": tilt}, "Zoom": {"x": zoom}}


async def move(address: OnvifAddress, timeout: float, pan: float, tilt: float, zoom: float) -> None:
    async def command(ptz: Any, profile: str) -> None:
        await ptz.ContinuousMove({"ProfileToken": profile, "Velocity": _velocity(pan, tilt, zoom)})

    await call(address, timeout, command)


async def stop(address: OnvifAddress, timeout: float) -> None:
    async def command(ptz: Any, profile: str) -> None:
        await ptz.Stop({"ProfileToken": profile, "PanTilt": True, "Zoom": True})

    await call(address, timeout, command)


async def goto_preset(address: OnvifAddress, timeout: float, preset: str) -> None:
    async def command(ptz: Any, profile: str) -> None:
        await ptz.GotoPreset({"ProfileToken": profile, "PresetToken": preset})

    await call(address, timeout, command)


async def presets(address: OnvifAddress, timeout: float) -> list[Preset]:
    async def command(ptz: Any, profile: str) -> list[Preset]:
        found = await ptz.GetPresets({"ProfileToken": profile}) or []
        return [Preset(token=str(p.token), name=str(getattr(p, "Name", "") or p.token)) for p in found]

    return await call(address, timeout, command)
