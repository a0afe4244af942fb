"""The uplink's pure parts: the row as sent, the signature, the retry schedule."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from decimal import Decimal

import pytest

from backend.settings import Settings, SettingsError, from_env
from backend.uplink.outbox import idempotency_key, payload
from backend.uplink.sender import retry_at
from backend.uplink.transports import sign


def test_dates_go_as_shanghai_wall_clock_numbers_as_numbers_and_absent_fields_are_left_out():
    at = dt.datetime(2026, 11, 26, 17, 5, 9, 123456, tzinfo=dt.UTC)
    row = payload(
        "emergency_alarm",
        {"ID": "x-1", "BJQZ_RQJSJ": at, "DQJD": Decimal("114.203456"), "DQWD": 30.5, "NR": "", "LXFS": None},
    )
    assert row == {"ID": "x-1", "BJQZ_RQJSJ": "2026-11-27 01:05:09", "DQJD": 114.203456, "DQWD": 30.5}


def test_the_idempotency_key_names_the_table_and_the_record():
    assert idempotency_key("door_access", "ev:12:e-7") == "door_access/ev:12:e-7"


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"table":"door_access","records":[]}'
    expected = hmac.new(b"k" * 32, b"1795000000." + body, hashlib.sha256).hexdigest()
    assert sign("k" * 32, "1795000000", body) == expected
    assert sign("k" * 32, "1795000001", body) != expected  # the timestamp is signed too


def test_retries_double_from_the_first_up_to_the_cap_with_jitter():
    settings = Settings(uplink_retry_seconds=2.0, uplink_retry_max_seconds=300.0)
    now = dt.datetime.now(dt.UTC)
    for attempts, full in ((1, 2.0), (2, 4.0), (5, 32.0), (9, 300.0), (500, 300.0)):
        for _ in range(20):
            wait = (retry_at(now, attempts, settings) - now).total_seconds()
            assert full * 0.5 <= wait <= full, (attempts, wait)


def test_an_uplink_url_needs_a_long_secret_and_an_http_scheme():
    with pytest.raises(SettingsError, match="ANJU_UPLINK_SECRET"):
        from_env({"ANJU_UPLINK_URL": "https://police.example/uplink", "ANJU_UPLINK_SECRET": "short"})
    with pytest.raises(SettingsError, match="ANJU_UPLINK_URL"):
        from_env({"ANJU_UPLINK_URL": "ftp://police.example/", "ANJU_UPLINK_SECRET": "s" * 32})
    settings = from_env({"ANJU_UPLINK_URL": "https://police.example/uplink", "ANJU_UPLINK_SECRET": "s" * 32})
    assert settings.uplink_batch == 100
