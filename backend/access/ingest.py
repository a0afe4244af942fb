"""Access events from devices become access records (门禁刷卡信息), once each, naming who passed.

A card, ID card, PIN or tag read resolves to its holder in one query per batch
(backend/credentials): the record carries the person, their household, 姓名 (XM), their sealed
身份证号 (GMSFHM) and building (LD_BM). A credential nobody holds is recorded as ``unknown`` and
attributed to no one; a PIN itself is never stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from backend.credentials import service as credentials
from backend.credentials.service import Holder, Read
from backend.keys import Keys
from backend.registry import codes
from backend.uplink import outbox
from device_bridge.dispatch import Handlers, Message
from device_bridge.protocol import AccessData, AccessMethod, EventType
from device_bridge.store import Writer
from roles.masking import mask_id

log = logging.getLogger("anju.access")
INSERT_PASS = (
    "INSERT INTO access_record (community, door, device, building, unit, method, direction, granted, account, "
    "credential, sk_fsdm, resolution, person, house, name, id_number_sealed, ld_bm, at, key, created_at) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, NULL, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) "
    "ON CONFLICT (key) DO NOTHING"
)
NOBODY = (None, None, "", "", "")  # person, house, name, id_number_sealed, ld_bm


def register(handlers: Handlers, keys: Keys) -> None:
    async def store_passes(writer: Writer, messages: Sequence[Message]) -> None:
        reads = [
            Read(community=m.device.community, method=m.data.method, value=m.data.credential, at=m.at)
            for m in messages
        ]
        holders = await credentials.holders(writer, keys, reads)
        passed = [_who(m.data, holder) for m, holder in zip(messages, holders, strict=True)]
        if unknown := sum(1 for who in passed if who[0] == "unknown"):
            log.info("%d of %d passes with a credential nobody holds", unknown, len(passed))
        now = writer.at(datetime.now(UTC))
        rows = [
            (*_record(m), *who, writer.at(m.at), f"ev:{m.key}", now)
            for m, who in zip(messages, passed, strict=True)
        ]
        await writer.many(INSERT_PASS, rows)
        # 门禁刷卡信息 owed to the police platform, in the same transaction (repeats: already owed);
        # built from the records when sent, not here.
        await outbox.owe_by_reference(
            writer, "door_access", [(f"ev:{m.key}", m.device.community) for m in messages]
        )

    handlers.on(store_passes, types={EventType.ACCESS})


def _record(message: Message) -> tuple:
    """access_record's columns from ``community`` to ``sk_fsdm``; an ID number is stored masked."""
    data: AccessData = message.data
    device = message.device
    return (
        device.community,
        device.doors.get(data.door),
        device.id,
        device.building,
        device.unit,
        data.method,
        data.direction,
        data.granted,
        _credential(data)[:50],
        codes.code_for("KMFSDM", data.method),
    )


def _credential(data: AccessData) -> str:
    """What a record keeps of the credential read: a card's or tag's number (JMK_BH), a masked ID
    number, and never a PIN."""
    if data.method is AccessMethod.ID_CARD:
        return mask_id(data.credential)
    return "" if data.method is AccessMethod.PIN else data.credential


def _who(data: AccessData, holder: Holder | None) -> tuple:
    """``resolution`` to ``ld_bm``: the holder, or nobody for an unknown credential."""
    if holder is not None:
        person = (holder.person, holder.house, holder.name, holder.id_number_sealed, holder.building_number)
        return ("person", *person)
    resolvable = data.method in credentials.METHOD_KINDS and data.credential
    return ("unknown" if resolvable else "", *NOBODY)
