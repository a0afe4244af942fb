"""Free text that people type (names, addresses, reasons): printable characters only."""

from __future__ import annotations

import unicodedata

from backend.errors import Invalid

# Control (NUL included: PostgreSQL cannot store it), format (zero-width, bidi overrides),
# surrogates, private use, unassigned, and line/paragraph separators: none belongs in a name,
# and each can hide or disguise what staff read on a screen.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def plain_text(value: str, field: str) -> str:
    """``value`` without surrounding spaces; refuses invisible and control characters (422)."""
    if any(unicodedata.category(char) in REFUSED_CATEGORIES for char in value):
        raise Invalid(
            "invalid_characters",
            f"{field} contains control or invisible characters; type it again without them",
            field=field,
        )
    return value.strip()
