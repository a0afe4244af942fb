"""Sensor thresholds: built-in defaults per meter kind, a community's own, one device's override.

What is compared: an instantaneous meter's value as read (hydrant pressure, electric load, gas
concentration); a cumulative meter's (water, electricity, gas) use so far this hour, i.e. the
spread of its readings within the hour (MeterUsage), so a burst pipe shows however old the meter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from device_bridge.protocol import MeterKind
from device_bridge.store import Writer


class Limits(msgspec.Struct, frozen=True):
    low: float | None = None
    high: float | None = None
    source: str = "default"  # default | community | device

    def crossed(self, value: float) -> bool:
        return (self.low is not None and value < self.low) or (self.high is not None and value > self.high)

    def name(self, unit: str) -> str:
        """阈值名称, e.g. "0.15–0.8 MPa"."""
        low = "" if self.low is None else f"{self.low:g}"
        high = "" if self.high is None else f"{self.high:g}"
        return f"{low}–{high} {unit}".strip()


CUMULATIVE = frozenset({MeterKind.WATER, MeterKind.ELECTRICITY, MeterKind.GAS})
UNITS: dict[MeterKind, str] = {
    MeterKind.WATER: "m³/h",
    MeterKind.ELECTRICITY: "kWh/h",
    MeterKind.POWER: "W",
    MeterKind.GAS: "m³/h",
    MeterKind.GAS_CONCENTRATION: "%LEL",
    MeterKind.HYDRANT_PRESSURE: "MPa",
}
# Conservative starting points; property staff set their own per community or device.
DEFAULTS: dict[MeterKind, Limits] = {
    MeterKind.HYDRANT_PRESSURE: Limits(low=0.15, high=0.8),  # 室内消火栓静压 (GB 50974)
    MeterKind.GAS_CONCENTRATION: Limits(high=20.0),  # 可燃气体探测器 first alarm ≤ 25 %LEL
    MeterKind.POWER: Limits(high=10_000.0),
    MeterKind.WATER: Limits(high=2.0),
    MeterKind.ELECTRICITY: Limits(high=20.0),
    MeterKind.GAS: Limits(high=3.0),
}

SELECT = "SELECT community, meter, device, low, high FROM sensor_threshold WHERE community = {}"


class Thresholds(msgspec.Struct):
    """A community's thresholds as read once per batch: (meter, device or None) → limits."""

    rows: dict[tuple[str, int | None], Limits]

    def limits(self, meter: MeterKind, device: int) -> Limits:
        return self.rows.get((meter, device)) or self.rows.get((meter, None)) or DEFAULTS[meter]


def table_of(rows: Iterable[dict[str, Any]]) -> Thresholds:
    return Thresholds(
        {
            (row["meter"], row["device"]): Limits(
                row["low"], row["high"], "device" if row["device"] is not None else "community"
            )
            for row in rows
        }
    )


async def load(writer: Writer, community: int) -> Thresholds:
    return table_of(await writer.fetch(SELECT, community))


def measured(meter: MeterKind, value: float, usage: dict[str, Any]) -> float:
    """What the limits apply to: the value, or this hour's use of a cumulative meter."""
    return usage["high"] - usage["low"] if meter in CUMULATIVE else value
