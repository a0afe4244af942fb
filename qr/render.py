"""Single QR codes for doorplate URLs: the module matrix the sheets draw, or a segno object/SVG/PNG."""

import io

import segno
import zxingcpp

ERROR_LEVEL = "M"  # survives ~15% damage: scratches, dirt, stickers on outdoor plates

# Rows of modules, one byte each: 1 dark, 0 light; quiet zone excluded. Bytes rather than bools:
# the sheets find runs of dark modules in them with a regex, the fastest way in Python.
Modules = tuple[bytes, ...]
_DARK_AS_ONE = bytes.maketrans(bytes(range(256)), bytes([1] * 128 + [0] * 128))


def modules(url: str) -> Modules:
    """The code the print sheets carry. zxing-cpp encodes in C++, ~20× faster than segno's mask
    search in Python: at 10 000 plates that is most of a print run. Any valid encoding will do:
    the sheets are decoded back before they are printed."""
    code = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, options=f"ecLevel={ERROR_LEVEL}")
    image = memoryview(code.to_image(scale=1, add_quiet_zones=False))
    height, width = image.shape
    # to_image draws dark modules black (0) on white (255)
    pixels = image.tobytes().translate(_DARK_AS_ONE)
    return tuple(pixels[row * width : (row + 1) * width] for row in range(height))


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
