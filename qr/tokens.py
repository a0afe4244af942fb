"""Doorplate tokens: the opaque id printed in every QR doorplate URL."""

import re
import secrets

TOKEN_BYTES = 12  # 96 bits: unguessable, yet short enough for a small (version 3) code
PLATE_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16}$")


def new_plate_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_well_formed(token: object) -> bool:
    """Cheap pre-check so the server can refuse junk before any database lookup."""
    # fullmatch, because "$" alone would also accept a trailing newline.
    return isinstance(token, str) and PLATE_TOKEN_PATTERN.fullmatch(token) is not None


def plate_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/d/{token}"
