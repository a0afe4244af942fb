"""What the self-assessment measures, gathered from the other domains' services for one community."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from backend.alarms import service as alarms
from backend.devices import service as devices
from backend.doorplates import service as doorplates
from backend.ebikes import service as ebikes
from backend.patrol import service as patrol
from backend.registry import service as registry
from backend.registry.enums import PlaceKind, Tier
from backend.services import service as services
from backend.settings import Settings
from backend.uplink import service as uplink
from backend.uplink.schemas import UplinkStatus
from backend.video import service as video
from backend.video.schemas import CoverageOut, InspectionsOut


@dataclass(frozen=True)
class Facts:
    community_id: int
    tier: Tier
    devices: list[dict[str, Any]]  # kind, gate, building, unit, house, online
    cameras: CoverageOut  # cameras per area, gaps, offline / unrecorded flags
    inspections: InspectionsOut
    zones: list[tuple[str, list[int]]]  # perimeter zones and the cameras linked to each
    units: list[dict[str, Any]]  # id, label, floors
    plates: dict[PlaceKind, tuple[int, int, int]]  # addresses, issued, installed
    verification: dict[str, tuple[int, int]]  # people, houses, organisations: (verified, total)
    ebikes: tuple[int, int]  # registered, tagged
    patrol: tuple[int, int]  # checkpoints, runs
    services: int  # services offered
    uplink: UplinkStatus


async def gather(settings: Settings, community_id: int) -> Facts:
    _, units = await registry.gates_and_units(community_id)
    return Facts(
        community_id=community_id,
        tier=await registry.community_tier(community_id),
        devices=await devices.placed_states([community_id]),
        cameras=await video.coverage(community_id),
        inspections=await video.inspection_record(community_id, dt.datetime.now(dt.UTC)),
        zones=await alarms.zone_cameras(community_id),
        units=units,
        plates=await doorplates.installation(community_id),
        verification=await registry.verification_counts(community_id),
        ebikes=(await ebikes.tag_counts(community_id)).get(community_id, (0, 0)),
        patrol=await patrol.record_counts(community_id),
        services=await services.offered_count(community_id),
        uplink=await uplink.status(settings, [community_id]),
    )
