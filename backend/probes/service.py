"""Wi-Fi probes (无线上网安全管理系统): the police's search of a MAC's sightings, and which entrances
lack an online probe. Records come from the bridge (ingest.py)."""

from __future__ import annotations

from typing import Any

from backend.audit import service as audit
from backend.context import Context
from backend.devices.tables import Device, DeviceKind
from backend.errors import Invalid
from backend.probes.ingest import mac_lookup
from backend.probes.schemas import ProbeCoverageOut, ProbeGap, SightingOut
from backend.probes.tables import Sighting
from backend.registry import service as registry
from device_bridge.protocol import normalised_mac
from roles import Action, Principal, authorize

SHOWN_AT_MOST = 500  # a MAC's newest sightings; older ones wait for a narrower search


async def sightings(
    ctx: Context, who: Principal, community_id: int, mac: str | None, ip: str
) -> list[SightingOut]:
    """The community's sightings of ``mac``, newest first; the police's alone, audited."""
    authorize(who, Action.SEARCH_SIGHTINGS, await registry.community_target(community_id))
    try:
        wanted = normalised_mac(mac or "")
    except ValueError:
        raise Invalid("bad_mac", "Give a MAC address, e.g. AA:BB:CC:DD:EE:FF") from None
    rows = (
        await Sighting.select(
            Sighting.id,
            Sighting.kind,
            Sighting.rssi,
            Sighting.at,
            Sighting.device,
            Sighting.device.name.as_alias("probe"),
            Sighting.device.gate.name.as_alias("gate"),
            Sighting.device.latitude.as_alias("latitude"),
            Sighting.device.longitude.as_alias("longitude"),
        )
        .where((Sighting.community == community_id) & (Sighting.mac_hash == mac_lookup(ctx.keys, wanted)))
        .order_by(Sighting.at, ascending=False)
        .order_by(Sighting.id, ascending=False)
        .limit(SHOWN_AT_MOST)
    )
    await audit.record_read(
        who,
        "read_sightings",
        f"community:{community_id}",
        community=community_id,
        ip=ip,
        detail={"mac": wanted, "shown": len(rows)},
    )
    return [_sighting_out(row, wanted) for row in rows]


def _sighting_out(row: dict[str, Any], mac: str) -> SightingOut:
    return SightingOut(
        id=row["id"],
        mac=mac,
        kind=row["kind"],
        rssi=row["rssi"],
        at=row["at"],
        device_id=row["device"],
        probe=row["probe"],
        gate=row["gate"] or "",
        latitude=row["latitude"],
        longitude=row["longitude"],
    )


async def coverage_view(ctx: Context, who: Principal, community_id: int) -> ProbeCoverageOut:
    authorize(who, Action.VIEW_PROBE_COVERAGE, await registry.community_target(community_id))
    return await coverage(community_id, ctx.settings.sighting_retention_days)


async def coverage(community_id: int, retention_days: int) -> ProbeCoverageOut:
    """Which of the community's entrances (gates) have no online Wi-Fi probe (the caller authorizes)."""
    gates, _ = await registry.gates_and_units(community_id)
    probes = await Device.select(Device.gate, Device.online).where(
        (Device.community == community_id) & (Device.kind == DeviceKind.WIFI_PROBE)
    )
    gaps = [
        ProbeGap(gate_id=g["id"], place=g["name"], probes=sum(1 for p in probes if p["gate"] == g["id"]))
        for g in gates
        if not any(p["gate"] == g["id"] and p["online"] for p in probes)
    ]
    return ProbeCoverageOut(
        community_id=community_id,
        complete=not gaps,
        gates=len(gates),
        gaps=gaps,
        retention_days=retention_days,
    )
