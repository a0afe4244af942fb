"""Read QR codes back from uploaded images (scans, screenshots, phone photos)."""

import io
from collections.abc import Iterator

from PIL import Image, ImageOps
from pyzbar import pyzbar

MAX_PIXELS = 40_000_000  # well above any phone camera; refuses decompression bombs
DOWNSCALE_ABOVE = 1600  # px on the longer side; zbar misses codes in huge, noisy photos


class UnreadableImage(ValueError):
    """The bytes are not an image we are willing to decode."""


def decode_image(data: bytes) -> list[str]:
    """Texts of all QR codes found, in zbar's order; [] when the image holds none."""
    image = _open_greyscale(data)
    for candidate in _attempts(image):
        if texts := _scan(candidate):
            return texts
    return []


def _open_greyscale(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))  # lazy: reads the header only
    except (OSError, Image.DecompressionBombError) as error:
        raise UnreadableImage(f"not a readable image: {error}") from error
    # Our own limit, checked before any pixel is decoded, so Pillow's global
    # MAX_IMAGE_PIXELS stays as other code expects it.
    if image.width * image.height > MAX_PIXELS:
        raise UnreadableImage(f"image of {image.width}x{image.height} px exceeds {MAX_PIXELS:,} pixels")
    try:
        return _flatten_on_white(image).convert("L")
    except (OSError, ValueError, SyntaxError) as error:  # truncated/corrupt pixels
        raise UnreadableImage(f"corrupt image data: {error}") from error


def _flatten_on_white(image: Image.Image) -> Image.Image:
    # Transparent pixels are often black underneath: without this, a code on a
    # transparent PNG turns into a black square.
    if "A" not in image.getbands() and "transparency" not in image.info:
        return image
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)


def _attempts(image: Image.Image) -> Iterator[Image.Image]:
    yield image
    if max(image.size) > DOWNSCALE_ABOVE:
        image = image.copy()
        image.thumbnail((DOWNSCALE_ABOVE, DOWNSCALE_ABOVE))
        yield image
    yield ImageOps.autocontrast(image)


def _scan(image: Image.Image) -> list[str]:
    symbols = pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE])
    return [symbol.data.decode("utf-8", errors="replace") for symbol in symbols]
