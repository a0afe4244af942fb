"""Residence categories: a leaf vocabulary that roles/ rules on and the registry stores."""

from enum import StrEnum


class ResidenceCategory(StrEnum):
    PERMANENT = "permanent"  # 常住
    LODGER = "lodger"  # 寄住
    FLOATING = "floating"  # 流动
