from __future__ import annotations

import datetime as dt

import msgspec


class SightingOut(msgspec.Struct):
    """One sighting of the searched MAC, with where the probe that saw it stands."""

    id: int
    mac: str
    kind: str  # wifi | rfid
    rssi: int | None
    at: dt.datetime
    device_id: int
    probe: str  # the probe's name
    gate: str  # the entrance it watches, "" if none
    latitude: float | None
    longitude: float | None


class ProbeGap(msgspec.Struct):
    """An entrance without an online probe: none registered there, or all offline."""

    gate_id: int
    place: str
    probes: int  # registered at this gate (offline ones included)


class ProbeCoverageOut(msgspec.Struct):
    community_id: int
    complete: bool
    gates: int
    gaps: list[ProbeGap]
    retention_days: int  # how long sightings are kept
