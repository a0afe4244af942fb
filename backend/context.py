"""What services need from the outside world, built once per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.accounts.verified import VerifiedTokens
from backend.devices.commands import DeviceCommands
from backend.doorplates.cache import ScanCache
from backend.faces.runtime import Faces
from backend.keys import Keys
from backend.kv import Store, store_for
from backend.live.runtime import Live
from backend.settings import Settings
from backend.sms import LogSms, SmsSender, sender_for
from backend.video.live import LiveVideo
from device_bridge.dispatch import Handlers


@dataclass
class Context:
    settings: Settings
    keys: Keys
    store: Store
    commands: DeviceCommands
    live: Live
    faces: Faces
    scans: ScanCache
    video: LiveVideo  # this process's ffmpeg streams (HLS) of the cameras being watched
    sms: SmsSender = field(default_factory=LogSms)
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens)  # per root key: per context
    # The device handlers of the HTTP intakes, built on first use (devices/intake.py), so that the
    # face galleries they load stay cached between requests.
    intake_handlers: Handlers | None = None

    @classmethod
    def build(cls, settings: Settings) -> Context:
        keys = Keys(settings.secret())
        live = Live(settings, keys)
        scans = ScanCache(settings.scan_cache_size, settings.scan_cache_seconds)
        live.wakeup.follow(scans)  # registry changes, from any process, drop its plates
        return cls(
            settings=settings,
            keys=keys,
            store=store_for(settings.redis_url, settings.redis_prefix),
            commands=DeviceCommands(settings),
            live=live,
            faces=Faces(settings),
            scans=scans,
            video=LiveVideo(settings),
            sms=sender_for(settings),
        )
