"""What services need from the outside world, built once per app."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from backend.access.commands import DoorCommands
from backend.keys import Keys
from backend.kv import Store, store_for
from backend.settings import Settings, SettingsError

log = logging.getLogger("anju.sms")


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class LogSms:
    """Development sender: the message goes to the log instead of a carrier."""

    async def send(self, phone: str, text: str) -> None:
        log.warning("SMS to %s: %s", phone, text)


class MemorySms:
    """Keeps messages in memory (latest last): for tests and local tooling, like a mail catcher."""

    def __init__(self) -> None:
        self.outbox: list[tuple[str, str]] = []

    async def send(self, phone: str, text: str) -> None:
        self.outbox.append((phone, text))


SMS_SENDERS: dict[str, type[SmsSender]] = {"log": LogSms, "memory": MemorySms}


@dataclass
class Context:
    settings: Settings
    keys: Keys
    store: Store
    doors: DoorCommands
    sms: SmsSender = field(default_factory=LogSms)

    @classmethod
    def build(cls, settings: Settings) -> Context:
        if settings.sms_sender not in SMS_SENDERS:
            choices = ", ".join(SMS_SENDERS)
            raise SettingsError(f"ANJU_SMS_SENDER: expected one of {choices}, got {settings.sms_sender!r}")
        return cls(
            settings=settings,
            keys=Keys(settings.secret()),
            store=store_for(settings.redis_url, settings.redis_prefix),
            doors=DoorCommands(settings),
            sms=SMS_SENDERS[settings.sms_sender](),
        )
