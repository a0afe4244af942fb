"""The analysis (研判) rules: each reads the records of some communities and names what it finds.

A rule returns :class:`Candidate` findings and writes nothing; service.py stores them, once per
(rule, subject, period), so a rerun over the same period adds nothing. Parameters come from
settings (README, "Analysis (研判)"). Times are judged in Wuhan's wall-clock time.

A rule that needs a history (vacancy by silence, welfare) says nothing about a community whose
access records do not reach back far enough: a new installation is not a district of empty flats.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from backend.access.tables import AccessRecord
from backend.analytics.tables import RuleName
from backend.credentials import service as credentials
from backend.credentials.tables import Credential
from backend.keys import Keys
from backend.registry.enums import HouseUse, ResidencyStatus
from backend.registry.tables import House, Owner, Person, Residency
from backend.settings import Settings
from backend.visitors.tables import Visit
from device_bridge.protocol import AccessMethod, Direction

LOCAL = ZoneInfo("Asia/Shanghai")
LOOKBACK = dt.timedelta(days=1)  # passes looked at by the per-pass rules: a missed run is caught up
EVIDENCE_ITEMS = 20  # passes listed in a finding's evidence, at most


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    rule: RuleName
    community: int
    subject: str  # "house:12", "person:7", "credential:3"
    period: str
    evidence: dict[str, Any]
    house: int | None = None
    person: int | None = None

    @property
    def slot(self) -> str:
        return f"{self.rule}:{self.subject}:{self.period}"


class Run(msgspec.Struct, frozen=True):
    """One analysis run: which communities, as of when, with which parameters."""

    communities: list[int]
    now: dt.datetime
    settings: Settings
    keys: Keys

    def ago(self, days: float) -> dt.datetime:
        return self.now - dt.timedelta(days=days)

    @property
    def week(self) -> str:
        year, week, _ = self.now.astimezone(LOCAL).isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def month(self) -> str:
        return self.now.astimezone(LOCAL).strftime("%Y-%m")


def local_day(at: dt.datetime) -> str:
    return at.astimezone(LOCAL).date().isoformat()


def local_time(at: dt.datetime) -> str:
    return at.astimezone(LOCAL).isoformat(timespec="minutes")


# --- shared reads ------------------------------------------------------------------------


async def current_residents(run: Run) -> list[dict[str, Any]]:
    """Verified residencies current today, with the house's community and recorded use."""
    today = run.now.astimezone(LOCAL).date()
    return await Residency.select(
        Residency.house, Residency.person, Residency.community, Residency.start_date
    ).where(
        Residency.community.is_in(run.communities)
        & (Residency.status == ResidencyStatus.VERIFIED)
        & (Residency.end_date.is_null() | (Residency.end_date >= today))
        & (Residency.start_date <= today)
    )


async def covered_communities(run: Run, since: dt.datetime) -> set[int]:
    """Communities whose access records reach back to ``since``: only there does silence mean something."""
    return {
        community
        for community in run.communities
        if await AccessRecord.exists().where(
            (AccessRecord.community == community) & (AccessRecord.at <= since)
        )
    }


async def last_seen(people: list[int]) -> dict[int, dt.datetime]:
    """Each person's latest pass at any door (card, tag, face, phone…)."""
    if not people:
        return {}
    rows = await AccessRecord.select(AccessRecord.person, AccessRecord.at).where(
        AccessRecord.person.is_in(people)
    )
    latest: dict[int, dt.datetime] = {}
    for row in rows:
        latest[row["person"]] = max(row["at"], latest.get(row["person"], row["at"]))
    return latest


# --- 1. occupancy ------------------------------------------------------------------------------


async def occupancy(run: Run) -> list[Candidate]:
    """自住 (an owner lives there), 租住 (residents, none an owner), 空置 (nobody, or nobody passed a
    door for ANJU_VACANT_AFTER_DAYS); a finding where that differs from the house's recorded use."""
    since = run.ago(run.settings.vacant_after_days)
    residents = defaultdict(set)
    for row in await current_residents(run):
        residents[row["house"]].add(row["person"])
    owners = defaultdict(set)
    for row in await Owner.select(Owner.house, Owner.person).where(Owner.community.is_in(run.communities)):
        owners[row["house"]].add(row["person"])
    passed = await _houses_passed_since(run, since)
    covered = await covered_communities(run, since)
    found = []
    for house in await House.select(House.id, House.community, House.use).where(
        House.community.is_in(run.communities)
    ):
        people = residents[house["id"]]
        silent = house["community"] in covered and house["id"] not in passed
        derived = _occupancy(people, owners[house["id"]], silent)
        if derived != house["use"]:
            evidence = {
                "derived": derived,
                "recorded": house["use"],
                "residents": len(people),
                "owner_lives_there": bool(people & owners[house["id"]]),
                "no_pass_for_days": run.settings.vacant_after_days if people and silent else None,
            }
            found.append(_house_finding(RuleName.OCCUPANCY, house, run.month, evidence))
    return found


def _occupancy(people: set[int], owners: set[int], silent: bool) -> HouseUse:
    if not people or silent:
        return HouseUse.VACANT
    return HouseUse.SELF_OCCUPIED if people & owners else HouseUse.RENTED


async def _houses_passed_since(run: Run, since: dt.datetime) -> set[int]:
    rows = await AccessRecord.select(AccessRecord.house).where(
        AccessRecord.community.is_in(run.communities)
        & (AccessRecord.at >= since)
        & AccessRecord.house.is_not_null()
    )
    return {row["house"] for row in rows}


def _house_finding(rule: RuleName, house: dict, period: str, evidence: dict) -> Candidate:
    return Candidate(
        rule=rule,
        community=house["community"],
        subject=f"house:{house['id']}",
        period=period,
        house=house["id"],
        evidence=evidence,
    )


# --- 2. visitor surge -------------------------------------------------------------------------------


async def visitor_surge(run: Run) -> list[Candidate]:
    """A flat whose distinct visitors over the last ANJU_VISITOR_SURGE_DAYS are at least
    ANJU_VISITOR_SURGE_MIN and ANJU_VISITOR_SURGE_FACTOR times its own average over the
    ANJU_VISITOR_SURGE_BASELINE_DAYS before (a visitor: their document, else their name)."""
    s = run.settings
    recent_since = run.ago(s.visitor_surge_days)
    rows = await Visit.select(
        Visit.community,
        Visit.at,
        Visit.visitor_pass.house.as_alias("house"),
        Visit.visitor_pass.visitor_name.as_alias("name"),
        Visit.visitor_pass.id_number_hash.as_alias("document"),
    ).where(
        Visit.community.is_in(run.communities)
        & (Visit.granted == True)  # noqa: E712 - a column comparison
        & (Visit.at >= recent_since - dt.timedelta(days=s.visitor_surge_baseline_days))
    )
    recent, before, community = defaultdict(set), defaultdict(set), {}
    for row in rows:
        visitor = row["document"] or row["name"].strip().lower()
        (recent if row["at"] >= recent_since else before)[row["house"]].add(visitor)
        community[row["house"]] = row["community"]
    periods_in_baseline = s.visitor_surge_baseline_days / s.visitor_surge_days
    found = []
    for house, visitors in recent.items():
        baseline = len(before[house]) / periods_in_baseline
        if len(visitors) >= s.visitor_surge_min and len(visitors) >= s.visitor_surge_factor * max(
            baseline, 1
        ):
            evidence = {
                "visitors": len(visitors),
                "baseline": round(baseline, 2),
                "days": s.visitor_surge_days,
            }
            found.append(
                _house_finding(
                    RuleName.VISITOR_SURGE, {"id": house, "community": community[house]}, run.week, evidence
                )
            )
    return found


# --- 3. entries at unusual hours ---------------------------------------------------------------------


def at_night(at: dt.datetime, hours: tuple[int, int]) -> bool:
    start, end = hours
    hour = at.astimezone(LOCAL).hour
    return start <= hour < end if start < end else hour >= start or hour < end


async def night_entries(run: Run) -> list[Candidate]:
    """A person with at least ANJU_NIGHT_ENTRIES_MIN entries (granted, inbound) within ANJU_NIGHT_HOURS
    over the last ANJU_NIGHT_ENTRIES_DAYS."""
    s = run.settings
    rows = await AccessRecord.select(
        AccessRecord.community, AccessRecord.person, AccessRecord.house, AccessRecord.at, AccessRecord.door
    ).where(
        AccessRecord.community.is_in(run.communities)
        & AccessRecord.person.is_not_null()
        & (AccessRecord.direction == Direction.IN)
        & (AccessRecord.granted == True)  # noqa: E712 - a column comparison
        & (AccessRecord.at >= run.ago(s.night_entries_days))
    )
    entries = defaultdict(list)
    for row in rows:
        if at_night(row["at"], s.night_range):
            entries[(row["community"], row["person"])].append(row)
    found = []
    for (community, person), passes in entries.items():
        if len(passes) >= s.night_entries_min:
            passes.sort(key=lambda r: r["at"])
            evidence = {
                "entries": len(passes),
                "hours": s.night_hours,
                "days": s.night_entries_days,
                "passes": [{"at": local_time(p["at"]), "door": p["door"]} for p in passes[:EVIDENCE_ITEMS]],
            }
            found.append(
                _person_finding(
                    RuleName.NIGHT_ENTRIES, community, person, passes[-1]["house"], run.week, evidence
                )
            )
    return found


def _person_finding(
    rule: RuleName, community: int, person: int, house: int | None, period: str, evidence: dict
) -> Candidate:
    return Candidate(
        rule=rule,
        community=community,
        subject=f"person:{person}",
        period=period,
        person=person,
        house=house,
        evidence=evidence,
    )


# --- 4. welfare: living alone, not seen -----------------------------------------------------------------


async def welfare(run: Run) -> list[Candidate]:
    """The only current resident of a flat, not seen at any door for ANJU_WELFARE_DAYS (counted from
    their last pass, or from moving in): a task for the warden to call on them. One task per silence:
    it is keyed by the day they were last seen."""
    residents = defaultdict(list)
    for row in await current_residents(run):
        residents[row["house"]].append(row)
    alone = [rows[0] for rows in residents.values() if len(rows) == 1]
    seen = await last_seen([row["person"] for row in alone])
    covered = await covered_communities(run, run.ago(run.settings.welfare_days))
    found = []
    for row in alone:
        moved_in = dt.datetime.combine(row["start_date"], dt.time(), LOCAL)
        last = max(seen.get(row["person"], moved_in), moved_in)
        if row["community"] in covered and run.now - last >= dt.timedelta(days=run.settings.welfare_days):
            evidence = {
                "last_seen": local_time(last),
                "days": (run.now - last).days,
                "passed_ever": row["person"] in seen,
            }
            found.append(
                _person_finding(
                    RuleName.WELFARE, row["community"], row["person"], row["house"], local_day(last), evidence
                )
            )
    return found


# --- 5. a credential used after its end ----------------------------------------------------------------

ENDING_KINDS = {AccessMethod.CARD: "card", AccessMethod.TAG: "tag"}  # methods whose number a record keeps


async def credential_after_end(run: Run) -> list[Candidate]:
    """A card or tag read at a door after it was revoked or after its holder's residency in that
    household ended (the pass names nobody: backend/credentials). ID cards are kept masked and PINs
    not at all, so only cards and tags can be traced back to their former holder."""
    rows = await AccessRecord.select(
        AccessRecord.id,
        AccessRecord.community,
        AccessRecord.method,
        AccessRecord.credential,
        AccessRecord.at,
        AccessRecord.door,
        AccessRecord.granted,
    ).where(
        AccessRecord.community.is_in(run.communities)
        & (AccessRecord.resolution == "unknown")
        & AccessRecord.method.is_in(list(ENDING_KINDS))
        & (AccessRecord.at >= run.now - LOOKBACK)
    )
    hashes = {row["id"]: _record_hash(run.keys, row) for row in rows}
    ended = await _ended_credentials({h for h in hashes.values() if h})
    found = []
    for row in rows:
        for credential in ended.get(hashes[row["id"]], []):
            if (why := _ended_by(credential, row["at"])) is not None:
                evidence = {
                    "kind": row["method"],
                    "at": local_time(row["at"]),
                    "door": row["door"],
                    "granted": row["granted"],
                    "ended": why,
                    "record": row["id"],
                }
                found.append(
                    Candidate(
                        rule=RuleName.CREDENTIAL_AFTER_END,
                        community=row["community"],
                        subject=f"credential:{credential['id']}",
                        period=local_day(row["at"]),
                        person=credential["person"],
                        house=credential["house"],
                        evidence=evidence,
                    )
                )
    return found


def _record_hash(keys: Keys, row: dict[str, Any]) -> str | None:
    kind = ENDING_KINDS[row["method"]]
    value = credentials.normalised(kind, row["credential"])
    return credentials.lookup(keys, row["community"], kind, value) if value else None


async def _ended_credentials(hashes: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Credentials by lookup hash, with their holder's residency end in that household."""
    if not hashes:
        return {}
    rows = await Credential.select(
        Credential.id, Credential.value_hash, Credential.person, Credential.house, Credential.revoked_at
    ).where(Credential.value_hash.is_in(list(hashes)))
    ends = await _residency_ends(rows)
    by_hash = defaultdict(list)
    for row in rows:
        by_hash[row["value_hash"]].append({**row, "residency_end": ends.get((row["person"], row["house"]))})
    return by_hash


async def _residency_ends(rows: list[dict[str, Any]]) -> dict[tuple[int, int], dt.date | None]:
    """When each (person, house)'s residency ended: its end date, or the day it was ended
    (deregistered); None while one lasts (someone who moved back in holds their credentials again)."""
    people = list({row["person"] for row in rows}) or [0]
    ends: dict[tuple[int, int], list[dt.date | None]] = defaultdict(list)
    for r in await Residency.select(
        Residency.person, Residency.house, Residency.status, Residency.end_date, Residency.decided_at
    ).where(
        Residency.person.is_in(people)
        & Residency.status.is_in([ResidencyStatus.VERIFIED, ResidencyStatus.ENDED])
    ):
        ends[(r["person"], r["house"])].append(r["end_date"] or _deregistered_on(r))
    return {key: None if None in dates else max(dates) for key, dates in ends.items()}


def _deregistered_on(residency: dict[str, Any]) -> dt.date | None:
    if residency["status"] != ResidencyStatus.ENDED or residency["decided_at"] is None:
        return None
    return residency["decided_at"].astimezone(LOCAL).date()


def _ended_by(credential: dict[str, Any], at: dt.datetime) -> str | None:
    if credential["revoked_at"] is not None and credential["revoked_at"] <= at:
        return "revoked"
    end = credential["residency_end"]
    if end is not None and end < at.astimezone(LOCAL).date():
        return "residency_ended"
    return None


# --- 6. key-person movement (police only) ----------------------------------------------------------------


async def key_person_movement(run: Run) -> list[Candidate]:
    """Any pass of a person flagged 重点 (flags are sealed: each passer's is opened here), one finding
    per person and day with the day's passes; service.py tells the community's police."""
    rows = await AccessRecord.select(
        AccessRecord.community,
        AccessRecord.person,
        AccessRecord.house,
        AccessRecord.at,
        AccessRecord.door,
        AccessRecord.direction,
        AccessRecord.method,
    ).where(
        AccessRecord.community.is_in(run.communities)
        & AccessRecord.person.is_not_null()
        & (AccessRecord.at >= run.now - LOOKBACK)
    )
    flagged = await _key_persons(run.keys, {row["person"] for row in rows})
    days = defaultdict(list)
    for row in rows:
        if row["person"] in flagged:
            days[(row["community"], row["person"], local_day(row["at"]))].append(row)
    found = []
    for (community, person, day), passes in days.items():
        passes.sort(key=lambda r: r["at"])
        evidence = {
            "passes": [
                {
                    "at": local_time(p["at"]),
                    "door": p["door"],
                    "direction": p["direction"],
                    "method": p["method"],
                }
                for p in passes[:EVIDENCE_ITEMS]
            ]
        }
        found.append(
            _person_finding(
                RuleName.KEY_PERSON_MOVEMENT, community, person, passes[-1]["house"], day, evidence
            )
        )
    return found


async def _key_persons(keys: Keys, people: set[int]) -> set[int]:
    if not people:
        return set()
    rows = await Person.select(Person.id, Person.key_sealed).where(Person.id.is_in(list(people)))
    return {
        row["id"]
        for row in rows
        if row["key_sealed"] and msgspec.json.decode(keys.unseal(row["key_sealed"])).get("key_person")
    }


RULES: dict[RuleName, Callable[[Run], Awaitable[list[Candidate]]]] = {
    RuleName.OCCUPANCY: occupancy,
    RuleName.VISITOR_SURGE: visitor_surge,
    RuleName.NIGHT_ENTRIES: night_entries,
    RuleName.WELFARE: welfare,
    RuleName.CREDENTIAL_AFTER_END: credential_after_end,
    RuleName.KEY_PERSON_MOVEMENT: key_person_movement,
}
