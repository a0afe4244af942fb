"""The broker URL and CA file settings, the client options built from them, and the access policy."""

from __future__ import annotations

import base64
import hashlib
import ssl

import certifi
import pytest

from backend.settings import SettingsError, from_env
from device_bridge.acl import (
    Policy,
    covers,
    device_account,
    device_password,
    mosquitto_hash,
    platform_account,
)
from device_bridge.transport import client_options


@pytest.mark.parametrize(
    "env,message",
    [
        ({"ANJU_MQTT_URL": "http://u:hunter2@broker"}, "ANJU_MQTT_URL: expected mqtt://"),
        ({"ANJU_MQTT_URL": "mqtt://:hunter2@broker"}, "ANJU_MQTT_URL: a password needs a user name"),
        ({"ANJU_MQTT_URL": "mqtt://u:hunter2@broker:99999"}, "ANJU_MQTT_URL: Port out of range"),
        ({"ANJU_MQTT_CA_FILE": certifi.where()}, "ANJU_MQTT_CA_FILE: only used with an mqtts://"),
        (
            {"ANJU_MQTT_URL": "mqtts://broker", "ANJU_MQTT_CA_FILE": "/no/ca.pem"},
            "ANJU_MQTT_CA_FILE: no such file",
        ),
    ],
)
def test_bad_broker_settings_name_the_variable_and_hide_the_password(env, message):
    with pytest.raises(SettingsError) as error:
        from_env(env)
    assert message in str(error.value) and "hunter2" not in str(error.value)


def test_an_mqtts_url_gives_credentials_and_a_verifying_tls_context():
    settings = from_env(
        {"ANJU_MQTT_URL": "mqtts://anju:p%40ss@broker.example", "ANJU_MQTT_CA_FILE": certifi.where()}
    )
    options = client_options(settings.broker)
    assert (options["hostname"], options["port"]) == ("broker.example", 8883)
    assert (options["username"], options["password"]) == ("anju", "p@ss")
    context = options["tls_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert settings.mqtt_external


def test_a_plain_url_has_no_tls_and_the_default_port():
    options = client_options(from_env({"ANJU_MQTT_URL": "mqtt://anju:pw@broker"}).broker)
    assert options["port"] == 1883 and "tls_context" not in options


def test_the_embedded_broker_admits_the_platform_with_a_password_from_the_root_secret():
    first = from_env({"ANJU_SECRET_KEY": "a" * 32}).broker
    assert first == from_env({"ANJU_SECRET_KEY": "a" * 32}).broker  # the app and the bridge agree
    assert first.password != from_env({"ANJU_SECRET_KEY": "b" * 32}).broker.password
    assert first.host == "127.0.0.1" and first.username and len(first.password) == 64


def test_a_device_password_is_derived_from_its_secret():
    assert device_password(b"s" * 32) == device_password(b"s" * 32) != device_password(b"t" * 32)


def test_the_mosquitto_hash_is_pbkdf2_sha512_as_mosquitto_passwd_writes_it():
    _, kind, rounds, salt, digest = mosquitto_hash("pw").split("$")
    expected = hashlib.pbkdf2_hmac("sha512", b"pw", base64.b64decode(salt), int(rounds), 64)
    assert kind == "7" and base64.b64decode(digest) == expected


@pytest.mark.parametrize(
    "allowed,requested,covered",
    [
        ("a/+/+/event", "a/c/d/event", True),
        ("a/+/+/event", "a/+/+/event", True),
        ("a/+/+/event", "a/#", False),
        ("a/+/+/event", "#", False),
        ("a/+/+/event", "a/c/d/cmd", False),
        ("a/c/d/cmd", "a/c/+/cmd", False),
        ("a/c/d/cmd", "a/c/d/cmd/x", False),
        ("a/c/d/cmd", "a/c/d", False),
        ("a/#", "a/c/d", True),
    ],
)
def test_a_filter_covers_only_what_it_includes(allowed, requested, covered):
    assert covers(allowed, requested) is covered


async def test_the_policy_keeps_each_device_on_its_own_topics():
    door = device_account("anju", "c1", "door-1", b"s" * 32)
    policy = Policy([platform_account("anju", "app", "pw"), door])
    assert await policy.authenticate("door-1", door.password)
    assert not await policy.authenticate("door-1", "guess") and not await policy.authenticate(None, None)
    assert policy.may_write("door-1", "anju/c1/door-1/event") and policy.may_read(
        "door-1", "anju/c1/door-1/cmd"
    )
    assert not policy.may_write("door-1", "anju/c1/door-2/event") and not policy.may_read("door-1", "anju/#")
    assert not policy.may_write("door-1", "anju/c1/door-1/cmd")  # only the platform commands
    assert policy.may_read("app", "$share/bridge/anju/+/+/event") and not policy.may_write(
        "app", "anju/c/d/event"
    )


async def test_the_policy_admits_a_rotated_device_by_its_new_password_and_no_longer_by_the_old():
    old, new = (
        device_account("anju", "c1", "door-1", b"o" * 32),
        device_account("anju", "c1", "door-1", b"n" * 32),
    )

    async def registry() -> list:
        return [new]  # the device was given a new secret since the policy was built

    policy = Policy([old], reload=registry)
    assert await policy.authenticate("door-1", new.password)
    assert not await policy.authenticate("door-1", old.password)
