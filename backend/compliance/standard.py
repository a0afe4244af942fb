"""The city's acceptance standard (武汉市智慧平安小区建设规范和验收标准, 一、系统组成和配置要求 and
五、验收标准): the configuration matrix of subsystems per tier, the 100-point score sheet, the
coverage targets. ``acceptance_standard.json`` next to this module is the standard as published
(the seed attachment)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import msgspec

from backend.registry.enums import Tier

SAFETY = "safety"  # the safety items' sheet: the same for both tiers


class Subsystem(msgspec.Struct, frozen=True):
    key: str
    group: str
    name: str
    area: str
    demonstration: str  # must (必建) or should (宜建)
    standard: str

    def level(self, tier: Tier) -> str:
        return self.demonstration if tier is Tier.DEMONSTRATION else self.standard


class Item(msgspec.Struct, frozen=True):
    no: int
    points: float
    text: str


class _Scoring(msgspec.Struct, frozen=True):
    demonstration: list[Item]
    standard: list[Item]
    safety_both_tiers: list[Item]


class _Standard(msgspec.Struct, frozen=True):
    subsystems: list[Subsystem]
    pass_score: float
    scoring: _Scoring
    coverage_targets: dict[str, float]


@cache
def _loaded() -> _Standard:
    return msgspec.json.decode((files(__package__) / "acceptance_standard.json").read_bytes(), type=_Standard)


def subsystems() -> list[Subsystem]:
    return _loaded().subsystems


def pass_score() -> float:
    return _loaded().pass_score


def target(name: str) -> float:
    return _loaded().coverage_targets[name]


def sheet(tier: Tier) -> list[tuple[str, Item]]:
    """The items a community of ``tier`` is scored on, each with its sheet (the tier's smart-standard
    items, then the safety items): 100 points in all."""
    scoring = _loaded().scoring
    smart = scoring.demonstration if tier is Tier.DEMONSTRATION else scoring.standard
    return [(tier.value, item) for item in smart] + [(SAFETY, item) for item in scoring.safety_both_tiers]
