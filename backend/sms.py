"""Text messages: sign-in codes and account notices, through a carrier or a signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Protocol
from urllib.parse import urlsplit

import httpx
import msgspec

from backend.errors import DomainError
from backend.settings import Settings, SettingsError

log = logging.getLogger("anju.sms")
SEND_TIMEOUT = 10.0


class Sms(msgspec.Struct, frozen=True):
    """One message: carriers send ``template`` with ``params``; ``text`` is the rendered wording."""

    template: str  # "code" | "notice"
    params: dict[str, str]
    text: str


def code_message(code: str, minutes: int) -> Sms:
    return Sms("code", {"code": code}, f"【安居】验证码 {code}，{minutes} 分钟内有效。")


def notice_message(event: str) -> Sms:
    return Sms("notice", {"event": event}, f"【安居】您的账号{event}。如非本人操作，请立即联系管理员。")


class SmsUnavailable(DomainError):
    """The carrier refused or could not be reached: say so rather than pretend the code went out."""

    status = 503


class SmsSender(Protocol):
    async def send(self, phone: str, message: Sms) -> None: ...


class LogSms:
    """Demo sender: the message goes to the log instead of a carrier."""

    async def send(self, phone: str, message: Sms) -> None:
        log.warning("SMS to %s: %s", phone, message.text)


class MemorySms:
    """Keeps (phone, text) in memory, latest last: for tests and local tooling, like a mail catcher."""

    def __init__(self) -> None:
        self.outbox: list[tuple[str, str]] = []

    async def send(self, phone: str, message: Sms) -> None:
        self.outbox.append((phone, message.text))


class AliyunSms:
    """Alibaba Cloud SMS (dysmsapi 2017-05-25) through its official SDK."""

    def __init__(self, settings: Settings) -> None:
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi import models as openapi

        endpoint = settings.sms_aliyun_endpoint
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        self._client = Client(
            openapi.Config(
                access_key_id=settings.sms_aliyun_access_key_id,
                access_key_secret=settings.sms_aliyun_access_key_secret,
                endpoint=parts.netloc,
                protocol=parts.scheme,
                read_timeout=int(SEND_TIMEOUT * 1000),
                connect_timeout=int(SEND_TIMEOUT * 1000),
            )
        )
        self._sign_name = settings.sms_sign_name
        self._templates = {"code": settings.sms_template_code, "notice": settings.sms_notice_template_code}

    async def send(self, phone: str, message: Sms) -> None:
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest

        request = SendSmsRequest(
            phone_numbers=phone,
            sign_name=self._sign_name,
            template_code=self._templates[message.template],
            template_param=msgspec.json.encode(message.params).decode(),
        )
        try:
            response = await self._client.send_sms_async(request)
        except Exception as exc:  # the SDK raises its own and transport errors alike
            log.error("Aliyun SMS failed: %s", exc)
            raise SmsUnavailable("sms_unavailable", "The text message could not be sent; try later") from None
        if response.body.code != "OK":
            log.error("Aliyun SMS refused: %s %s", response.body.code, response.body.message)
            raise SmsUnavailable("sms_unavailable", "The text message could not be sent; try later")


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``timestamp.body``: the receiver checks it and refuses stale timestamps."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookSms:
    """POSTs the message as JSON to a gateway of the operator's choosing, signed with a shared secret."""

    def __init__(self, settings: Settings) -> None:
        self._url, self._secret = settings.sms_webhook_url, settings.sms_webhook_secret

    async def send(self, phone: str, message: Sms) -> None:
        body = msgspec.json.encode(
            {"phone": phone, "template": message.template, "params": message.params, "text": message.text}
        )
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Anju-Timestamp": timestamp,
            "X-Anju-Signature": webhook_signature(self._secret, timestamp, body),
        }
        try:
            async with httpx.AsyncClient(timeout=SEND_TIMEOUT) as client:
                response = await client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.error("SMS webhook failed: %s", exc)
            raise SmsUnavailable("sms_unavailable", "The text message could not be sent; try later") from None
        if not response.is_success:
            log.error("SMS webhook refused: %s", response.status_code)
            raise SmsUnavailable("sms_unavailable", "The text message could not be sent; try later")


def sender_for(settings: Settings) -> SmsSender:
    match settings.sms_sender:
        case "aliyun":
            return AliyunSms(settings)
        case "webhook":
            return WebhookSms(settings)
        case "memory":
            return MemorySms()
    return LogSms()


def require_real_sender(settings: Settings) -> None:
    """A server outside demo mode must text codes to phones, never only to its log."""
    if settings.sms_sender == "log" and not settings.demo:
        raise SettingsError(
            "ANJU_SMS_SENDER: the log sender writes sign-in codes to the log and serves the demo only; "
            "set ANJU_SMS_SENDER=aliyun or webhook (or ANJU_DEMO=true)"
        )
