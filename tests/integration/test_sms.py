"""The real SMS senders against local stubs: Alibaba Cloud's SDK and the signed webhook."""

from __future__ import annotations

import contextlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import msgspec
import pytest

from backend.settings import Settings, SettingsError
from backend.sms import AliyunSms, SmsUnavailable, WebhookSms, code_message, webhook_signature
from tests.brokers import free_port
from tests.conftest import anju

PHONE = "13512345678"


@contextlib.contextmanager
def stub(answer):
    """An HTTP server on a free loopback port; ``answer(path, headers, body)`` -> (status, JSON)."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = {"path": self.path, "headers": dict(self.headers), "body": body}
            seen.append(request)
            status, reply = answer(request)
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def aliyun_settings(endpoint: str) -> Settings:
    return Settings(
        sms_sender="aliyun",
        sms_aliyun_access_key_id="LTAI-test-id",
        sms_aliyun_access_key_secret="test-secret",
        sms_aliyun_endpoint=endpoint,
        sms_sign_name="安居",
        sms_template_code="SMS_100001",
        sms_notice_template_code="SMS_100002",
    )


def _aliyun_params(request: dict) -> dict[str, str]:
    """The API's parameters travel in the query string (or a form body)."""
    query = dict(parse_qsl(urlsplit(request["path"]).query))
    return query | dict(parse_qsl(request["body"].decode()))


async def test_aliyun_sender_calls_send_sms_through_the_official_sdk():
    ok = {"Code": "OK", "Message": "OK", "BizId": "1", "RequestId": "r1"}
    with stub(lambda _: (200, ok)) as (url, seen):
        await AliyunSms(aliyun_settings(url)).send(PHONE, code_message("482913", 5))
    params, headers = _aliyun_params(seen[0]), seen[0]["headers"]
    assert headers["x-acs-action"] == "SendSms" and headers["x-acs-version"] == "2017-05-25"
    assert params["PhoneNumbers"] == PHONE
    assert params["SignName"] == "安居" and params["TemplateCode"] == "SMS_100001"
    assert json.loads(params["TemplateParam"]) == {"code": "482913"}
    # The SDK signs every request (ACS3-HMAC-SHA256) with the access key.
    assert headers["Authorization"].startswith("ACS3-HMAC-SHA256 Credential=LTAI-test-id,")
    assert "Signature=" in headers["Authorization"]


async def test_aliyun_refusal_is_a_503_not_a_silent_success():
    refused = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "limit", "RequestId": "r2"}
    with stub(lambda _: (200, refused)) as (url, _), pytest.raises(SmsUnavailable):
        await AliyunSms(aliyun_settings(url)).send(PHONE, code_message("482913", 5))


async def test_webhook_sender_signs_what_it_posts():
    secret = "webhook-secret-" + "z" * 20

    def verify(request):
        timestamp = request["headers"]["X-Anju-Timestamp"]
        expected = webhook_signature(secret, timestamp, request["body"])
        fresh = abs(time.time() - int(timestamp)) < 300
        good = hmac.compare_digest(expected, request["headers"]["X-Anju-Signature"]) and fresh
        return (200, {}) if good else (401, {"error": "bad signature"})

    with stub(verify) as (url, seen):
        settings = Settings(sms_sender="webhook", sms_webhook_url=f"{url}/sms", sms_webhook_secret=secret)
        await WebhookSms(settings).send(PHONE, code_message("482913", 5))
        body = msgspec.json.decode(seen[0]["body"])
        assert body["phone"] == PHONE and body["params"] == {"code": "482913"}
        forged = Settings(sms_sender="webhook", sms_webhook_url=f"{url}/sms", sms_webhook_secret="wrong" * 8)
        with pytest.raises(SmsUnavailable):  # the stub refuses a wrong signature, and we say so
            await WebhookSms(forged).send(PHONE, code_message("482913", 5))


@pytest.mark.parametrize(
    "env,named",
    [
        ({"sms_sender": "carrier-pigeon"}, "ANJU_SMS_SENDER"),
        ({"sms_sender": "aliyun"}, "ANJU_SMS_ALIYUN_ACCESS_KEY_ID"),
        ({"sms_sender": "webhook", "sms_webhook_secret": "s" * 32}, "ANJU_SMS_WEBHOOK_URL"),
        (
            {"sms_sender": "webhook", "sms_webhook_url": "https://sms.example", "sms_webhook_secret": "s"},
            "SECRET",
        ),
    ],
)
def test_sms_settings_are_checked_and_named(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings(**env)


def test_serve_refuses_the_log_sender_outside_demo_in_one_line(tmp_path):
    """Before any worker starts: an operator reads one line, not a traceback per worker."""
    done = anju(
        "serve",
        env={
            "ANJU_VAR_DIR": str(tmp_path),
            "ANJU_SMS_SENDER": "log",
            "ANJU_DEMO": "false",
            "ANJU_PORT": str(free_port()),
        },
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "configuration error: ANJU_SMS_SENDER: the log sender writes sign-in codes to the log and serves the demo "
        "only; set ANJU_SMS_SENDER=aliyun or webhook (or ANJU_DEMO=true)"
    ]
