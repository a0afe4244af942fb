"""announce(): the event and its push messages are rows of the announcing transaction, nothing more."""

from __future__ import annotations

import msgspec
import pytest

from backend.accounts.tables import Account
from backend.live.outbox import PushMessage, announce
from backend.live.tables import LiveEvent, PushOutbox
from device_bridge import store


class RolledBack(Exception):
    pass


async def test_announce_writes_the_event_and_one_push_row_per_account(world):
    accounts = [a["id"] for a in await Account.select(Account.id).order_by(Account.id).limit(2)]
    message = PushMessage(
        title="紧急报警", body="3栋 一键报警", url="/alarms/7", tag="alarm:7", urgency="high"
    )
    async with store.writer(LiveEvent._meta.db) as writer:
        event_id = await announce(
            writer,
            community=world.home,
            topic="alarm",
            payload={"id": 7},
            push_to=[*accounts, accounts[0]],
            push=message,
        )

    event = await LiveEvent.objects().get(LiveEvent.id == event_id)
    assert (event.community, event.topic, _decoded(event.payload)) == (world.home, "alarm", {"id": 7})
    rows = await PushOutbox.select().order_by(PushOutbox.account)
    assert [r["account"] for r in rows] == sorted(accounts)  # once per account, however often named
    assert all(msgspec.convert(_decoded(r["message"]), PushMessage) == message for r in rows)


async def test_a_rolled_back_transaction_announces_nothing(world):
    account = (await Account.select(Account.id).first())["id"]
    with pytest.raises(RolledBack):
        async with store.writer(LiveEvent._meta.db) as writer:
            await announce(
                writer,
                community=world.home,
                topic="alarm",
                payload={},
                push_to=[account],
                push=PushMessage(title="x"),
            )
            raise RolledBack
    assert await LiveEvent.count() == 0
    assert await PushOutbox.count() == 0


async def test_push_recipients_need_a_message(world):
    async with store.writer(LiveEvent._meta.db) as writer:
        with pytest.raises(ValueError, match="push message"):
            await announce(writer, community=world.home, topic="alarm", payload={}, push_to=[1])


def _decoded(value):
    return msgspec.json.decode(value) if isinstance(value, str) else value


async def test_after_commit_runs_once_after_a_commit_and_never_after_a_rollback(world):
    calls = []

    async def wake() -> None:
        calls.append(await LiveEvent.count())  # what a woken reader would see

    with pytest.raises(RolledBack):
        async with store.writer(LiveEvent._meta.db) as writer:
            await announce(writer, community=world.home, topic="alarm", payload={})
            writer.after_commit(wake)
            raise RolledBack
    assert calls == []
    async with store.writer(LiveEvent._meta.db) as writer:
        await announce(writer, community=world.home, topic="alarm", payload={})
        writer.after_commit(wake)
        writer.after_commit(wake)
    assert calls == [1]  # once, and the row was already visible
