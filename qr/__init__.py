"""QR doorplates: tokens, codes, decoding, print sheets and read-back checks."""

from qr.decode import UnreadableImage, decode_image
from qr.fonts import FontUnusable
from qr.printrun import PrintRun, print_run
from qr.render import png, qr_code, svg
from qr.sheets import Plate, sheet_pdf, sheet_svg
from qr.tokens import PLATE_TOKEN_PATTERN, is_well_formed, new_plate_token, plate_url
from qr.verify import Failure, VerifyReport

__all__ = [
    "PLATE_TOKEN_PATTERN",
    "Failure",
    "FontUnusable",
    "Plate",
    "PrintRun",
    "UnreadableImage",
    "VerifyReport",
    "decode_image",
    "is_well_formed",
    "new_plate_token",
    "plate_url",
    "png",
    "print_run",
    "qr_code",
    "sheet_pdf",
    "sheet_svg",
    "svg",
]
