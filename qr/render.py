"""Single QR codes for doorplate URLs, as segno objects, inline SVG or PNG."""

import io

import segno

ERROR_LEVEL = "M"  # survives ~15% damage: scratches, dirt, stickers on outdoor plates


def qr_code(url: str) -> segno.QRCode:
    # boost_error=False keeps the level fixed: the size depends only on URL length.
    return segno.make(url, error=ERROR_LEVEL, micro=False, boost_error=False)


def svg(url: str, scale: int = 4) -> str:
    """SVG markup without XML declaration, ready to inline into HTML."""
    return qr_code(url).svg_inline(scale=scale)


def png(url: str, scale: int = 4, border: int = 4) -> bytes:
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="png", scale=scale, border=border)
    return buffer.getvalue()
