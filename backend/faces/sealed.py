"""Face data at rest (embeddings, photos, captures): bytes sealed like ID numbers."""

from __future__ import annotations

import base64

from backend.keys import Keys


def seal(keys: Keys, data: bytes) -> str:
    return keys.seal(base64.b64encode(data).decode())


def unseal(keys: Keys, sealed: str) -> bytes:
    return base64.b64decode(keys.unseal(sealed))
