"""Who is told of an alarm (push and live board), by its type's rule in kinds.RULES.

| category | told when raised | escalated to (unacknowledged) |
| --- | --- | --- |
| emergency/help buttons | police, wardens, and the verified residents of the paired flat (its emergency contacts) | police, district admins |
| perimeter, thrown objects, smoke, gas | police, wardens, property (security) | police, district admins |
| other video, fire and energy | property (security); video loss/occlusion also maintenance | police, district admins |
| offline, low battery, tamper | maintenance (tamper: property too) | police, district admins |

A button's emergency contacts are the accounts of the paired flat's verified residents: family
members who registered, so nobody is reached who did not join the household.
"""

from __future__ import annotations

from backend.accounts.recipients import staff_accounts
from backend.alarms.kinds import ESCALATION, RULES, Rule
from backend.alarms.schemas import AlarmOut
from backend.registry.service import household_accounts
from device_bridge.store import Writer


async def recipients(writer: Writer, alarm: AlarmOut) -> list[int]:
    rule = RULES[alarm.type]
    accounts = await staff_accounts(writer, alarm.community, rule.roles)
    if rule.residents and alarm.house is not None:
        accounts += await household_accounts(writer, alarm.house)
    return sorted(set(accounts))


async def escalation_recipients(writer: Writer, alarm: AlarmOut) -> list[int]:
    rule: Rule = RULES[alarm.type]
    # A police-only alarm stays with the police: the district's admins do not see the watch list.
    return await staff_accounts(writer, alarm.community, rule.roles if rule.police_only else ESCALATION)
