"""Who may use the broker, tried as an attacker would (finding 12 of issue 13).

A Mosquitto of our own runs the files `anju mqtt-auth` writes (its dynamic-security plugin, or
the password_file and acl_file); the embedded broker enforces the same policy in-process. An
attacker holds one device's account (device A) and goes after another's (device B).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import msgspec
import pytest
from paho.mqtt.client import MQTTv5

from backend.devices.service import fleet, mqtt_policy
from backend.settings import from_env
from device_bridge import protocol
from device_bridge.bridge import running
from device_bridge.broker import embedded_broker
from device_bridge.protocol import Channel
from device_bridge.simulator import OPENS_DOORS, DeviceSpec, publish_events, sign
from device_bridge.transport import Broker, client_options
from roles import Role
from tests.brokers import free_port, mosquitto
from tests.conftest import anju_beside
from tests.integration.test_bridge import eventually, new_bridge
from tests.integration.test_doors import opened, simulated, unit_door

PLATFORM_USER, PLATFORM_PASSWORD = "anju-platform", secrets.token_hex(16)
TIMEOUT = 10


@pytest.fixture
def broker_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings, broker_port):
    """The platform's account on a broker of our own, started once the registry has its devices."""
    url = f"mqtt://{PLATFORM_USER}:{PLATFORM_PASSWORD}@127.0.0.1:{broker_port}"
    return msgspec.structs.replace(settings, mqtt_url=url)


async def mqtt_auth(settings, out: Path) -> str:
    """`anju mqtt-auth --out DIR`, run as an operator would."""
    env = {
        "ANJU_DATABASE_URL": settings.database_url,
        "ANJU_SECRET_KEY": settings.secret_key,
        "ANJU_VAR_DIR": settings.var_dir,
        "ANJU_MQTT_URL": settings.mqtt_url,
        "ANJU_MQTT_PREFIX": settings.mqtt_prefix,
    }
    done = await anju_beside("mqtt-auth", "--out", str(out), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(params=["dynsec", "files", "embedded"])
async def platform(request, world, settings, broker_port, tmp_path) -> AsyncIterator[Broker]:
    """The secured broker; yields the platform's account on it."""
    if request.param == "embedded":
        # The same platform account the app under test connects with: a refusal would end its door commands.
        policy = await mqtt_policy(world.ctx, PLATFORM_USER, PLATFORM_PASSWORD)
        async with embedded_broker(broker_port, policy):
            yield settings.broker
        return
    await mqtt_auth(settings, tmp_path / "mqtt")
    with mosquitto(broker_port, tmp_path / "mqtt", request.param):
        yield settings.broker


@pytest.fixture
async def devices(world) -> tuple[DeviceSpec, DeviceSpec]:
    """Two door devices of the home community: the attacker's (A) and the victim (B)."""
    doors = [spec for spec in await fleet(world.ctx, world.home) if spec.kind in OPENS_DOORS]
    return doors[0], doors[1]


def connect(broker: Broker, device: DeviceSpec | None = None, **options) -> aiomqtt.Client:
    """A client as the platform, or as ``device`` with its own account."""
    account = device.logged_in(broker) if device else broker
    return aiomqtt.Client(**client_options(account), identifier=f"t-{secrets.token_hex(4)}", **options)


def topic(settings, device: DeviceSpec, channel: Channel) -> str:
    return protocol.topic(settings.mqtt_prefix, device.community, device.code, channel)


async def first_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(TIMEOUT):
        async for message in client.messages:
            return message
    raise AssertionError("the subscription ended")


async def test_nobody_connects_without_an_account(platform, devices):
    device, _ = devices
    strangers = (
        msgspec.structs.replace(platform, username=None, password=None),
        platform.as_user(device.code, "0" * 64),
        platform.as_user("intruder", "guess"),
        platform.as_user(platform.username, "guess"),
    )
    for account in strangers:
        with pytest.raises(aiomqtt.MqttError, match="(?i)not authori"):
            async with aiomqtt.Client(**client_options(account)):
                pass
    async with connect(platform, device), connect(platform):
        pass  # the device's own account and the platform's are admitted


async def test_a_device_cannot_read_another_devices_events_or_commands(platform, settings, devices):
    thief, victim = devices
    async with (
        connect(platform, thief) as attacker,
        connect(platform, victim) as door,
        connect(platform) as app,
    ):
        for name in (
            topic(settings, victim, Channel.EVENT),
            topic(settings, victim, Channel.CMD),
            protocol.subscription(settings.mqtt_prefix, Channel.EVENT, shared=False),
            f"{settings.mqtt_prefix}/#",
            "#",
        ):
            await attacker.subscribe(name, qos=1)
        await attacker.subscribe(topic(settings, thief, Channel.CMD), qos=1)
        _, card = sign(victim, settings.mqtt_prefix, Channel.EVENT, "access", {"credential": "0012345678"})
        await door.publish(topic(settings, victim, Channel.EVENT), card, qos=1)
        await app.publish(topic(settings, victim, Channel.CMD), b"open B", qos=1)
        # Published after the others: whatever the attacker could read would reach it first.
        await app.publish(topic(settings, thief, Channel.CMD), b"for A", qos=1)
        message = await first_message(attacker)
    assert (str(message.topic), message.payload) == (topic(settings, thief, Channel.CMD), b"for A")


async def test_a_device_cannot_publish_on_another_devices_topics(platform, settings, devices):
    thief, victim = devices
    prefix = settings.mqtt_prefix
    async with connect(platform, victim) as door, connect(platform) as app:
        for channel in (Channel.EVENT, Channel.STATE, Channel.ACK):
            await app.subscribe(protocol.subscription(prefix, channel, shared=False), qos=1)
        await door.subscribe(topic(settings, victim, Channel.CMD), qos=1)
        for channel in (Channel.EVENT, Channel.STATE, Channel.ACK, Channel.CMD):
            payload = sign(thief, prefix, channel, "state", {"online": False})[1]
            # Answered (PUBACK) or cut off (Mosquitto's dynamic security drops the client): handled.
            with contextlib.suppress(aiomqtt.MqttError):
                async with connect(platform, thief) as attacker:
                    await attacker.publish(topic(settings, victim, channel), payload, qos=1, retain=True)
        await app.publish(topic(settings, victim, Channel.CMD), b"genuine command", qos=1)
        _, event = sign(victim, prefix, Channel.EVENT, "heartbeat", {})
        await door.publish(topic(settings, victim, Channel.EVENT), event, qos=1)
        to_platform, to_device = await first_message(app), await first_message(door)
    assert (str(to_platform.topic), to_platform.payload) == (topic(settings, victim, Channel.EVENT), event)
    assert to_device.payload == b"genuine command"


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
async def test_a_device_provisioned_while_the_embedded_broker_runs_is_admitted(platform, world):
    body = {"community_id": world.home, "code": "new-gate-9", "kind": "face_gate", "name": "新闸机"}
    headers = await world.headers(Role.MAINTENANCE)
    provisioned = await world.client.post("/api/devices", json=body, headers=headers)
    assert provisioned.status_code == 201, provisioned.text
    account = platform.as_user(provisioned.json()["mqtt_username"], provisioned.json()["mqtt_password"])
    async with aiomqtt.Client(**client_options(account)) as client:
        await client.publish(f"{provisioned.json()['topic_prefix']}/event", b"{}", qos=1)


@pytest.mark.parametrize("platform", ["dynsec"], indirect=True)
async def test_a_device_cannot_join_the_bridges_shared_subscription(platform, world, settings, devices):
    """Joined to the bridge's group, a device would take every other event, and lose it."""
    thief, victim = devices
    count = 200
    bridge = new_bridge(world, settings)
    async with running(bridge), connect(platform, thief, protocol=MQTTv5) as attacker:
        share = protocol.subscription(settings.mqtt_prefix, Channel.EVENT, shared=True)
        granted = await attacker.subscribe(share, qos=1)
        await publish_events(platform, victim, count, settings.mqtt_prefix)
        await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] == count), 30)
    assert granted[0].is_failure
    assert bridge.counts["accepted"] == count


@pytest.mark.parametrize("platform", ["dynsec", "files"], indirect=True)
async def test_the_platform_account_serves_the_bridge_and_door_commands(platform, world, settings):
    headers = await world.headers(Role.RESIDENT)
    door = await unit_door(world)
    async with simulated(world, settings) as simulator, asyncio.timeout(TIMEOUT):
        # Every device is online: the bridge has read their states. 503: the app is still connecting.
        while (
            response := await world.client.post(f"/api/doors/{door['id']}/open", headers=headers)
        ).status_code == 503:
            await asyncio.sleep(0.1)
    assert response.status_code == 200, response.text
    assert response.json()["command_id"] in opened(simulator)


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA of our own and a certificate for localhost signed by it: (CA, certificate, key) files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def issue(subject: str, key, issuer: x509.Name, signer, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Anju test CA")])
    ca = issue("Anju test CA", ca_key, ca_name, ca_key, ca=True)
    server = issue("localhost", server_key, ca_name, ca_key, ca=False)
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    paths[2].write_bytes(key)
    return paths


async def test_an_mqtts_broker_is_verified_against_the_configured_ca(tmp_path):
    ca, certificate, key = certificates(tmp_path)
    port = free_port()
    with mosquitto(port, tls=(certificate, key)):
        url = f"mqtts://anju:pw@localhost:{port}"
        trusted = from_env({"ANJU_MQTT_URL": url, "ANJU_MQTT_CA_FILE": str(ca)}).broker
        async with aiomqtt.Client(**client_options(trusted)) as client:
            await client.subscribe("tls/check", qos=1)
            await client.publish("tls/check", b"over TLS", qos=1)
            assert (await first_message(client)).payload == b"over TLS"
        with pytest.raises(aiomqtt.MqttError, match="(?i)certificate verify failed"):
            async with aiomqtt.Client(**client_options(from_env({"ANJU_MQTT_URL": url}).broker)):
                pass  # the system's CAs do not know ours: refused, never sent in clear
