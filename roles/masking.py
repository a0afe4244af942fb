"""Pure display masking, shared by roles/ projections and the domains (no domain imports)."""

from __future__ import annotations

import datetime as dt

# Below this length first-3/last-4 masking would hide almost nothing.
_MASK_MIN_LENGTH = 11
AGE_BAND_YEARS = 10
OLDEST_BAND = 80  # everyone older shares one band: "80+"


def mask_id(number: str) -> str:
    """Hide the middle of a document number for display: 420***********1234.

    Numbers shorter than 11 characters keep only their last two.
    """
    if len(number) >= _MASK_MIN_LENGTH:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    keep = 2 if len(number) > 2 else 0
    return "*" * (len(number) - keep) + number[len(number) - keep :]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 11 else "****"


def age_band(born: dt.date, today: dt.date | None = None) -> str:
    """A ten-year band ("30-39", "80+"): beside a masked ID, a birth date would undo the mask."""
    today = today or dt.date.today()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    low = min(max(age, 0) // AGE_BAND_YEARS * AGE_BAND_YEARS, OLDEST_BAND)
    return f"{low}+" if low == OLDEST_BAND else f"{low}-{low + AGE_BAND_YEARS - 1}"
