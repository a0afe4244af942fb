"""Photos people upload (a service request's, an enrolment's face): checked, cleaned, re-encoded."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from PIL import Image, ImageOps

from backend.errors import Invalid

PHOTO_MAX_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
PHOTO_MAX_PIXELS = 40_000_000  # refuses decompression bombs before any pixel is decoded
PHOTO_SIDE = 1600  # stored size: enough to see a leak or a face, small for the database


def clean_photo(data: bytes, content_type: str) -> bytes:
    """The photo re-encoded as a JPEG of at most PHOTO_SIDE px: proves it is an image and drops
    whatever else the file carried (EXIF position, trailing payloads)."""
    if content_type not in PHOTO_TYPES:
        raise Invalid("photo_type", "Send a JPEG, PNG or WebP photo", field="photo")
    if not data or len(data) > PHOTO_MAX_BYTES:
        raise Invalid(
            "photo_size", f"A photo is 1 byte to {PHOTO_MAX_BYTES // 1024 // 1024} MB", field="photo"
        )
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in ("JPEG", "PNG", "WEBP"):
            raise Invalid("photo_type", "Send a JPEG, PNG or WebP photo", field="photo")
        if image.width * image.height > PHOTO_MAX_PIXELS:
            raise Invalid("photo_size", "This photo has too many pixels", field="photo")
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise Invalid("photo_unreadable", "This file is not a readable photo", field="photo") from None
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


async def keep_photo(
    table: Any, owner: Any, owner_id: int, body: Callable[[], Awaitable[bytes]], content_type: str
) -> None:
    """Read, clean (in a worker thread) and store an upload in ``table`` (``data``, ``bytes``), in
    place of the one its owner had: ``owner`` is the table's unique column naming the owner."""
    jpeg = await anyio.to_thread.run_sync(clean_photo, await body(), content_type)
    row = table(**{owner._meta.name: owner_id, "data": jpeg, "bytes": len(jpeg)})
    await table.insert(row).on_conflict(target=owner, action="DO UPDATE", values=[table.data, table.bytes])
