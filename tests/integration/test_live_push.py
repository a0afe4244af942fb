"""Web push through the outbox: decrypted at a local push service exactly as sent, once per
subscription however many workers send, gone subscriptions pruned, and no way to aim the server
at internal addresses."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import msgspec
import pytest

from backend.accounts.tables import Account
from backend.live.outbox import PushMessage, announce
from backend.live.push import Pusher
from backend.live.tables import PushOutbox, PushSubscription
from backend.live.wakeup import Wakeup
from backend.seed import demo_phone
from device_bridge import store
from roles import Role
from tests.integration.test_bridge import eventually
from tests.pushservice import Browser, PushService

ALARM = PushMessage(
    title="紧急报警 SOS", body="3栋2单元 一键报警", url="/alarms/7", tag="alarm:7", urgency="high"
)


@pytest.fixture
def settings(settings):
    # The local push service listens on 127.0.0.1 over http: allowed for this test only.
    return msgspec.structs.replace(settings, push_allow_hosts="127.0.0.1")


@pytest.fixture
async def push_service():
    async with PushService().running() as service:
        yield service


async def account_id(role: Role) -> int:
    return (await Account.select(Account.id).where(Account.phone == demo_phone(role)).first())["id"]


async def subscribe(world, role: Role, browser: Browser, push_service: PushService) -> None:
    answer = await world.client.post(
        "/api/push/subscriptions",
        json=browser.subscription(push_service.url),
        headers=await world.headers(role),
    )
    assert answer.status_code == 204, answer.text


async def push(accounts: list[int], message: PushMessage = ALARM, community: int = 1) -> None:
    async with store.writer(PushOutbox._meta.db) as writer:
        await announce(writer, community=community, topic="alarm", payload={}, push_to=accounts, push=message)


async def all_sent() -> bool:
    return await PushOutbox.count().where(PushOutbox.sent_at.is_null()) == 0


async def test_a_subscribed_browser_receives_the_message_as_sent(world, push_service):
    phone = push_service.browser()
    await subscribe(world, Role.RESIDENT, phone, push_service)
    await push([await account_id(Role.RESIDENT)], community=world.home)

    await eventually(lambda: asyncio.sleep(0, push_service.messages(phone)))
    [received] = push_service.received
    assert msgspec.convert(received.message, PushMessage) == ALARM
    assert received.urgency == "high"
    key = (await world.client.get("/api/push/key")).json()["public_key"]
    assert received.vapid_key == key  # signed with the key the browser subscribed with
    assert received.claims["sub"].startswith("mailto:")
    await eventually(all_sent)  # the sender marks the row once the push service has answered
    row = await PushSubscription.select(PushSubscription.last_ok_at).first()
    assert row["last_ok_at"] is not None
    assert not push_service.refused


async def test_a_subscription_the_push_service_calls_gone_is_deleted(world, push_service):
    kept, gone = push_service.browser(), push_service.browser(status=410)
    for browser in (kept, gone):
        await subscribe(world, Role.RESIDENT, browser, push_service)
    await push([await account_id(Role.RESIDENT)])

    await eventually(all_sent)
    assert len(push_service.messages(kept)) == 1
    endpoints = await PushSubscription.select(PushSubscription.endpoint).output(as_list=True)
    assert endpoints == [kept.subscription(push_service.url)["endpoint"]]


async def test_each_message_reaches_each_subscription_once_with_several_workers(
    world, settings, push_service
):
    phones = [push_service.browser(), push_service.browser()]
    for phone in phones:
        await subscribe(world, Role.WARDEN, phone, push_service)
    warden = await account_id(Role.WARDEN)
    # Two more workers beside the app's own, all claiming from the same table at once.
    workers = [Pusher(settings, world.ctx.keys, Wakeup(settings)) for _ in range(2)]
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker.connected())

        async def drain(worker: Pusher) -> None:
            while not await all_sent():
                await worker.send_due()
                await asyncio.sleep(0)

        bodies = [f"第{n}条" for n in range(40)]
        for body in bodies:
            await push([warden], PushMessage(title="t", body=body))
        await asyncio.gather(*(drain(worker) for worker in workers))
    for phone in phones:
        assert sorted(m["body"] for m in push_service.messages(phone)) == sorted(bodies)


async def test_a_failed_send_is_retried_later_and_served_subscriptions_are_not_sent_again(
    world, push_service
):
    steady, flaky = push_service.browser(), push_service.browser(status=503)
    for browser in (steady, flaky):
        await subscribe(world, Role.RESIDENT, browser, push_service)
    await push([await account_id(Role.RESIDENT)])

    async def retry_due() -> bool:  # the round is over (not just leased): one served, one to retry
        row = await PushOutbox.select().first()
        served = (
            msgspec.json.decode(row["delivered"]) if isinstance(row["delivered"], str) else row["delivered"]
        )
        return row["attempts"] == 1 and len(served) == 1 and row["sent_at"] is None

    await eventually(retry_due)
    assert len(push_service.messages(steady)) == 1 and not push_service.messages(flaky)
    flaky.status = 201
    await PushOutbox.update({PushOutbox.due_at: datetime.now(UTC)}, force=True)  # the backoff has passed
    world.ctx.live.wakeup.local.notify()
    await eventually(all_sent)
    assert len(push_service.messages(flaky)) == 1
    assert len(push_service.messages(steady)) == 1  # not again
