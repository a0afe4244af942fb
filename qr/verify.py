"""Check, before printing, that the sheets as written carry every plate's code and address.

The PDF pages are rasterised with PDFium and the SVG files with qr.svgraster; at every cell the
layout put a plate, the code found there must decode (pyzbar) to exactly that plate's URL, and the
address text there (PDFium's text extraction, the SVG's text elements) must be the plate's label.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pypdfium2 as pdfium
from PIL import Image
from pyzbar import pyzbar

from qr import svgraster
from qr.sheets import PAGE_HEIGHT, Cell, Page, Plate

PX_PER_MM = 3.0  # ≥ 3 px per module on the smallest (house) codes: zbar reads them without fail
PT_PER_MM = 72 / 25.4
CROP_QUIET_MODULES = 3  # of the 4 printed: enough for zbar, far from the neighbouring cells
_WHITESPACE = re.compile(r"\s+")


class Failure(msgspec.Struct, frozen=True):
    artefact: str  # file name of the sheet
    page: int  # 1-based
    url: str
    label: str
    problem: str

    def __str__(self) -> str:
        return f"{self.label} ({self.url}): {self.artefact} page {self.page}: {self.problem}"


class VerifyReport(msgspec.Struct, frozen=True):
    total: int
    verified: int
    # one entry per problem found, in page order
    failures: list[Failure]

    @property
    def coverage(self) -> float:
        return self.verified / self.total if self.total else 1.0

    @property
    def failed_urls(self) -> list[str]:
        return list(dict.fromkeys(failure.url for failure in self.failures))


@dataclass(frozen=True, slots=True)
class Expected:
    """What one cell must carry, and where (mm from the page's top-left corner)."""

    url: str
    label: str
    code_box: tuple[float, float, float, float]  # left, top, right, bottom
    label_box: tuple[float, float, float, float]


def expectations(page: Page, plates: Sequence[Plate]) -> tuple[Expected, ...]:
    """Pair each laid-out cell with the plate it was laid out for."""
    return tuple(_expected(cell, plate) for cell, plate in zip(page.cells, plates, strict=True))


def _expected(cell: Cell, plate: Plate) -> Expected:
    modules = max(row for row, _, _ in cell.dark_runs) + 1 if cell.dark_runs else 0
    margin = CROP_QUIET_MODULES * cell.module
    side = modules * cell.module
    labels = cell.texts[:-1]  # the last line names the kind of door
    # An empty label prints no line: an empty box, where nothing must be read.
    label_box = (
        (cell.x, labels[0].y - labels[0].size, cell.x + cell.width, labels[-1].y + labels[-1].size * 0.3)
        if labels
        else (0.0, 0.0, 0.0, 0.0)
    )
    return Expected(
        url=plate.url,
        label=plate.label,
        code_box=(
            cell.qr_x - margin,
            cell.qr_y - margin,
            cell.qr_x + side + margin,
            cell.qr_y + side + margin,
        ),
        label_box=label_box,
    )


def check_pdf(path: Path, pages: Sequence[tuple[int, Sequence[Expected]]]) -> list[list[Failure]]:
    """Failures per page, for the given (1-based page number, cells) of the PDF file."""
    try:
        document = pdfium.PdfDocument(path)
    except (pdfium.PdfiumError, OSError) as error:
        problem = f"unreadable PDF: {error}"
        return [
            [Failure(path.name, number, cell.url, cell.label, problem) for cell in cells]
            for number, cells in pages
        ]
    try:
        return [_check_pdf_page(path.name, document, number, cells) for number, cells in pages]
    finally:
        document.close()


def _check_pdf_page(name: str, document: pdfium.PdfDocument, number: int, cells: Sequence[Expected]):
    if number > len(document):
        return [Failure(name, number, cell.url, cell.label, "page missing from the PDF") for cell in cells]
    page = document[number - 1]
    image = page.render(scale=PX_PER_MM / PT_PER_MM, grayscale=True).to_pil().convert("L")
    text_page = page.get_textpage()
    failures = []
    for cell in cells:
        left, top, right, bottom = (value * PT_PER_MM for value in cell.label_box)
        height = PAGE_HEIGHT * PT_PER_MM
        text = text_page.get_text_bounded(left=left, bottom=height - bottom, right=right, top=height - top)
        failures += _check_cell(name, number, cell, image, text)
    return failures


def check_svg(path: Path, number: int, cells: Sequence[Expected]) -> list[Failure]:
    try:
        page = svgraster.rasterise(path.read_text(encoding="utf-8"), PX_PER_MM)
    except (OSError, UnicodeDecodeError, svgraster.UnsupportedSvg) as error:
        return [
            Failure(path.name, number, cell.url, cell.label, f"unreadable SVG: {error}") for cell in cells
        ]
    failures = []
    for cell in cells:
        left, top, right, bottom = cell.label_box
        inside = [t.text for t in page.texts if left <= t.x <= right and top <= t.y <= bottom]
        failures += _check_cell(path.name, number, cell, page.image, "".join(inside))
    return failures


def _check_cell(name: str, number: int, cell: Expected, image: Image.Image, text: str) -> list[Failure]:
    problems = []
    found = _decode(image, cell.code_box)
    if found != [cell.url]:
        problems.append(_code_problem(found))
    if not _is_printed_label(text, cell.label):
        problems.append(f"address text reads {text!r}")
    return [Failure(name, number, cell.url, cell.label, problem) for problem in problems]


def _code_problem(found: list[str]) -> str:
    if not found:
        return "no readable code"
    return f"code reads {found[0]!r}" if len(found) == 1 else f"{len(found)} codes where one belongs"


def _decode(image: Image.Image, box_mm: tuple[float, float, float, float]) -> list[str]:
    crop = image.crop(tuple(round(value * PX_PER_MM) for value in box_mm))
    symbols = pyzbar.decode(crop, symbols=[pyzbar.ZBarSymbol.QRCODE])
    return [symbol.data.decode("utf-8", errors="replace") for symbol in symbols]


def _is_printed_label(text: str, label: str) -> bool:
    """The label, wrapped over lines (spaces may fall at line ends), or clipped with a trailing "…"."""
    printed, wanted = _WHITESPACE.sub("", text), _WHITESPACE.sub("", label)
    if printed == wanted:
        return True
    return printed.endswith("…") and len(printed) > 1 and wanted.startswith(printed[:-1])
