"""Running the analysis (研判) rules, storing their findings once, and showing them to staff.

:func:`analyse` runs every rule (rules.py) for some communities and stores each candidate with
``INSERT … ON CONFLICT (slot) DO NOTHING``: a finding is stored once per (rule, subject, period),
however often and by however many bridge workers the job runs. A new key-person finding is pushed
to the community's police in the same transaction (never announced on the community's live
stream, which wardens watch). Police and wardens read their communities' findings; findings
about 重点人员 need VIEW_KEY_PERSONS (police only); every read is audited with the people shown.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import msgspec

from backend.accounts.recipients import staff_accounts
from backend.analytics.rules import RULES, Candidate, Run
from backend.analytics.schemas import CloseIn, FindingOut
from backend.analytics.tables import POLICE_ONLY, Finding, FindingState, RuleName
from backend.audit import service as audit
from backend.db import transaction
from backend.errors import Conflict, NotFound
from backend.keys import Keys
from backend.live.outbox import INSERT_PUSH, PushMessage
from backend.registry import service as registry
from backend.registry.tables import Community, House, Person
from backend.settings import Settings
from backend.text import plain_text
from device_bridge.store import Writer
from roles import Action, Principal, Role, Target, authorize, is_allowed

INSERT_FINDING = (
    "INSERT INTO finding (community, rule, police_only, house, person, period, evidence, slot, state, "
    "created_at, handled_by, handled_at, note) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, NULL, '') "
    "ON CONFLICT (slot) DO NOTHING RETURNING id, community, rule"
)
KEY_PERSON_PUSH = PushMessage(
    title="重点人员动态", body="研判: 重点人员通行", url="/findings", urgency="high"
)
Transaction = Callable[[], AbstractAsyncContextManager[Writer]]


async def analyse(
    transaction_of: Transaction,
    settings: Settings,
    keys: Keys,
    community: int | None = None,
    now: dt.datetime | None = None,
) -> Counter[str]:
    """Run every rule for ``community`` (default: all); the new findings per rule."""
    ids = (
        [community] if community is not None else [row["id"] for row in await Community.select(Community.id)]
    )
    run = Run(ids, now or dt.datetime.now(dt.UTC), settings, keys)
    new: Counter[str] = Counter()
    for name, rule in RULES.items():
        candidates = await rule(run)
        async with transaction_of() as writer:
            new[name] = await save(writer, candidates, run.now)
    return new


async def save(writer: Writer, candidates: list[Candidate], now: dt.datetime) -> int:
    """Store the candidates not stored yet; how many were new."""
    stored = 0
    for candidate in candidates:
        rows = await writer.fetch(
            INSERT_FINDING,
            candidate.community,
            candidate.rule.value,
            candidate.rule in POLICE_ONLY,
            candidate.house,
            candidate.person,
            candidate.period,
            msgspec.json.encode(candidate.evidence).decode(),
            candidate.slot[:120],
            FindingState.OPEN.value,
            writer.at(now),
        )
        if rows and candidate.rule is RuleName.KEY_PERSON_MOVEMENT:
            await _tell_police(writer, candidate.community, now)
        stored += len(rows)
    return stored


async def _tell_police(writer: Writer, community: int, now: dt.datetime) -> None:
    police = await staff_accounts(writer, community, [Role.POLICE])
    message = msgspec.json.encode(KEY_PERSON_PUSH).decode()
    await writer.many(INSERT_PUSH, [(account, message, writer.at(now), writer.at(now)) for account in police])


# --- reading and closing --------------------------------------------------------------------------


def _visible_rules(who: Principal, target: Target) -> list[str]:
    """The rules whose findings the caller may see: 重点人员 ones only with VIEW_KEY_PERSONS."""
    key_persons = is_allowed(who, Action.VIEW_KEY_PERSONS, target)
    return [rule.value for rule in RuleName if key_persons or rule not in POLICE_ONLY]


async def community_findings(
    who: Principal, community_id: int, state: FindingState | None, rule: RuleName | None, ip: str
) -> list[FindingOut]:
    target = await registry.community_target(community_id)
    authorize(who, Action.VIEW_FINDINGS, target)
    visible = _visible_rules(who, target)
    where = (Finding.community == community_id) & Finding.rule.is_in(visible)
    if state is not None:
        where &= Finding.state == state
    if rule is not None:
        where &= Finding.rule == rule
    rows = await _select().where(where).order_by(Finding.id, ascending=False).limit(500)
    await audit.record_read(
        who,
        "read_findings",
        f"community:{community_id}",
        community=community_id,
        ip=ip,
        detail={"people": sorted({r["person"] for r in rows if r["person"]})},
    )
    return await _named([finding_out(row) for row in rows])


async def _named(findings: list[FindingOut]) -> list[FindingOut]:
    """The findings with their people's names and their houses' addresses."""
    people = list({f.person for f in findings if f.person}) or [0]
    houses = list({f.house for f in findings if f.house}) or [0]
    names = {
        r["id"]: r["name"] for r in await Person.select(Person.id, Person.name).where(Person.id.is_in(people))
    }
    addresses = {
        r["id"]: r["text"]
        for r in await House.select(House.id, House.address.text.as_alias("text")).where(
            House.id.is_in(houses)
        )
    }
    return [
        msgspec.structs.replace(f, name=names.get(f.person, ""), address=addresses.get(f.house, ""))
        for f in findings
    ]


async def close(who: Principal, finding_id: int, data: CloseIn, ip: str) -> FindingOut:
    row = await _select().where(Finding.id == finding_id).first()
    if row is None:
        raise NotFound("unknown_finding", f"No finding {finding_id}")
    target = await registry.community_target(row["community"])
    authorize(who, Action.HANDLE_FINDING, target)
    if row["rule"] not in _visible_rules(who, target):
        raise NotFound("unknown_finding", f"No finding {finding_id}")  # a warden learns nothing of it
    note = plain_text(data.note, "note")
    async with transaction(Finding._meta.db):
        closed = (
            await Finding.update(
                {
                    Finding.state: FindingState.CLOSED,
                    Finding.handled_by: who.account_id,
                    Finding.handled_at: dt.datetime.now(dt.UTC),
                    Finding.note: note,
                }
            )
            .where((Finding.id == finding_id) & (Finding.state == FindingState.OPEN))
            .returning(Finding.id)
        )
        if not closed:
            raise Conflict("already_closed", "This finding was closed already")
        await audit.record(
            who,
            "close_finding",
            f"finding:{finding_id}",
            community=row["community"],
            ip=ip,
            detail={"note": note},
        )
    [closed_row] = await _named([finding_out(await _select().where(Finding.id == finding_id).first())])
    return closed_row


def _select():
    return Finding.select(
        Finding.all_columns(exclude=[Finding.slot]),
        Finding.community.name.as_alias("community_name"),
    )


def finding_out(row: dict) -> FindingOut:
    evidence = row["evidence"]
    return FindingOut(
        id=row["id"],
        community=row["community"],
        rule=row["rule"],
        police_only=row["police_only"],
        house=row["house"],
        person=row["person"],
        period=row["period"],
        evidence=msgspec.json.decode(evidence) if isinstance(evidence, str) else evidence,
        state=row["state"],
        created_at=row["created_at"],
        handled_by=row["handled_by"],
        handled_at=row["handled_at"],
        note=row["note"],
    )
