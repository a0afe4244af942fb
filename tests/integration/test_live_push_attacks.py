"""Push subscriptions as an attacker sends them: internal endpoints (SSRF), bad keys, others' endpoints.

These run on the production defaults: no host is exempt from the public-address rule.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest

from backend.live.push import Pusher
from backend.live.tables import PushSubscription
from backend.live.wakeup import Wakeup
from roles import Role
from tests.integration.test_live_push import account_id, push
from tests.pushservice import Browser, b64, unb64

VALID_KEYS = Browser("keys").subscription("https://push.example.com")["keys"]
_point = unb64(VALID_KEYS["p256dh"])
OFF_CURVE = b64(_point[:-1] + bytes([_point[-1] ^ 1]))  # y changed: no longer a point of P-256
INTERNAL = [
    "http://push.example.com/x",  # not https
    "https://127.0.0.1:6379/x",
    "https://10.0.0.5/x",
    "https://127.1/x",  # short and decimal forms of 127.0.0.1, which resolvers accept
    "https://2130706433/x",
    "https://0x7f.0.0.1/x",
    "https://192.168.1.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]:5432/x",
    "https://[fd00::1]/x",
    "https://localhost:8000/x",
    "https://localhost.:8000/x",
    "https://redis:6379/x",  # a service name on an internal network
    "https://user:pw@push.example.com/x",
    "ftp://push.example.com/x",
    "javascript:alert(1)",
    "https:///x",
    "https://[::1/x",  # not even a URL
    "https://push.example.com:99999/x",
]


@pytest.mark.parametrize("endpoint", INTERNAL)
async def test_a_subscription_cannot_aim_the_server_at_an_internal_address(world, endpoint):
    answer = await world.client.post(
        "/api/push/subscriptions",
        json={"endpoint": endpoint, "keys": VALID_KEYS},
        headers=await world.headers(Role.RESIDENT),
    )
    assert answer.status_code in (400, 422), answer.text
    assert await PushSubscription.count() == 0


@contextlib.contextmanager
def hostile_dns(monkeypatch, name: str, address: str = "127.0.0.1"):
    """An attacker's DNS: ``name`` looks public, its answer points inside (or later rebinds there)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def answer(host, *args, **kwargs):
        return await real(address if host == name else host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", answer)
    yield


@pytest.fixture
async def listener():
    """A port on 127.0.0.1 that counts connections (and hangs up at once, whatever the protocol)."""
    connections = []

    def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername"))
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    server.port, server.connections = server.sockets[0].getsockname()[1], connections
    yield server
    server.close()


@pytest.mark.parametrize("allowed", [False, True], ids=["default", "name allowed: the check can fail"])
async def test_a_name_that_resolves_to_an_internal_address_is_never_connected_to(
    world, settings, monkeypatch, listener, allowed
):
    name = "push.rebind.example"
    endpoint = f"https://{name}:{listener.port}/push/x"
    answer = await world.client.post(
        "/api/push/subscriptions",
        json={"endpoint": endpoint, "keys": VALID_KEYS},
        headers=await world.headers(Role.RESIDENT),
    )
    assert answer.status_code == 204  # a public-looking name: what it resolves to is known only when sending
    worker_settings = msgspec.structs.replace(settings, push_allow_hosts=name if allowed else "")
    worker = Pusher(worker_settings, world.ctx.keys, Wakeup(worker_settings))
    await world.ctx.live.stop()  # only this worker sends, under the hostile DNS
    await push([await account_id(Role.RESIDENT)])
    with hostile_dns(monkeypatch, name):
        async with worker.connected():
            await worker.send_due()
    assert bool(listener.connections) is allowed


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ({"p256dh": "AAAA", "auth": VALID_KEYS["auth"]}, "keys.p256dh"),  # not a point
        ({"p256dh": OFF_CURVE, "auth": VALID_KEYS["auth"]}, "keys.p256dh"),
        ({"p256dh": VALID_KEYS["p256dh"], "auth": "AAAA"}, "keys.auth"),  # 3 bytes
        ({"p256dh": VALID_KEYS["p256dh"], "auth": "not base64!"}, None),
    ],
)
async def test_subscription_keys_are_checked(world, keys, field):
    answer = await world.client.post(
        "/api/push/subscriptions",
        json={"endpoint": "https://push.example.com/x", "keys": keys},
        headers=await world.headers(Role.RESIDENT),
    )
    assert answer.status_code in (400, 422), answer.text
    if field:
        assert answer.json()["extra"]["field"] == field
    assert await PushSubscription.count() == 0


async def test_nobody_removes_or_reads_another_accounts_subscription(world):
    endpoint = "https://push.example.com/resident"
    resident, warden = await world.headers(Role.RESIDENT), await world.headers(Role.WARDEN)
    body = {"endpoint": endpoint, "keys": VALID_KEYS}
    assert (
        await world.client.post("/api/push/subscriptions", json=body, headers=resident)
    ).status_code == 204
    gone = await world.client.request(
        "DELETE", "/api/push/subscriptions", json={"endpoint": endpoint}, headers=warden
    )
    assert gone.status_code == 204  # the same answer either way: no oracle for others' endpoints
    assert await PushSubscription.count() == 1
    anonymous = await world.client.post("/api/push/subscriptions", json=body)
    assert anonymous.status_code == 401
    mine = await world.client.request(
        "DELETE", "/api/push/subscriptions", json={"endpoint": endpoint}, headers=resident
    )
    assert mine.status_code == 204
    assert await PushSubscription.count() == 0


async def test_an_account_keeps_its_newest_subscriptions_only(world):
    resident = await world.headers(Role.RESIDENT)
    for n in range(12):
        body = {"endpoint": f"https://push.example.com/{n}", "keys": VALID_KEYS}
        assert (
            await world.client.post("/api/push/subscriptions", json=body, headers=resident)
        ).status_code == 204
    kept = (
        await PushSubscription.select(PushSubscription.endpoint)
        .order_by(PushSubscription.id)
        .output(as_list=True)
    )
    assert kept == [f"https://push.example.com/{n}" for n in range(2, 12)]
