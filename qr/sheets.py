"""Printable A4 doorplate sheets, as SVG pages or one PDF, from one shared layout."""

import functools
import hashlib
import io
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

import msgspec
from reportlab import rl_config
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from qr import render

# Layout, in millimetres; both renderers draw in these units.
PAGE_WIDTH = 210.0
PAGE_HEIGHT = 297.0
PAGE_MARGIN = 10.0
HEADER_HEIGHT = 12.0
HEADER_FONT = 4.5
CELL_PADDING = 3.0
QR_LABEL_GAP = 1.5
QR_QUIET_ZONE = 4  # modules of white margin, as ISO/IEC 18004 requires
LABEL_MAX_LINES = 3
LABEL_MIN_FONT = 2.4  # ~7 pt, still legible on a door
FONT_STEP = 0.2
LINE_SPACING = 1.3  # line height / font size
ASCENT = 0.88  # share of the font size above the baseline
KIND_FONT = 2.5
CUT_GUIDE_WIDTH = 0.2
CUT_GUIDE_DASH = 1.0

SVG_FONT_FAMILY = "Noto Sans CJK SC, sans-serif"
KIND_NAMES = {
    "gate": "小区大门",
    "building": "楼栋门",
    "unit": "单元门",
    "house": "户门",
    "checkpoint": "巡查点",  # a patrol checkpoint's tag
}

# Characters at most 0.6 em wide in both fonts; anything else is measured as a full em,
# which errs on the side of wrapping early rather than overflowing the cell.
_NARROW = frozenset("0123456789abcdefghijklnopqrstuvxyz -.,:;/()#'\"!?_")
# A run of dark modules in one of render.modules() rows (1 = dark).
_DARK_RUN = re.compile(rb"\x01+")
# Characters XML 1.0 cannot represent at all, not even escaped.
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# Plain Flate streams: the ASCII85 layer reportlab adds by default is for 7-bit mail transports,
# makes files 25 % bigger and is, in pure Python, a tenth of the time of a big print run.
rl_config.useA85 = 0

Anchor = Literal["start", "middle", "end"]
DarkRun = tuple[int, int, int]  # (row, column, length) of a horizontal run of dark modules


class Plate(msgspec.Struct, frozen=True):
    url: str
    label: str  # the standard address text, e.g. "武汉市…幸福家园小区 3栋2单元1203室"
    kind: str  # one of KIND_NAMES

    def __post_init__(self) -> None:
        if self.kind not in KIND_NAMES:
            raise ValueError(f"plate kind must be one of {sorted(KIND_NAMES)}, got {self.kind!r}")


@dataclass(frozen=True, slots=True)
class Grid:
    columns: int
    rows: int
    label_font: float


# Gate and building plates are read from further away: bigger codes and text.
GRIDS = {
    "gate": Grid(columns=2, rows=3, label_font=4.5),
    "building": Grid(columns=2, rows=3, label_font=4.5),
    "unit": Grid(columns=3, rows=4, label_font=3.2),
    "house": Grid(columns=3, rows=4, label_font=3.2),
    "checkpoint": Grid(columns=3, rows=4, label_font=3.2),
}


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str
    x: float
    y: float  # baseline, measured down from the top of the page
    size: float
    anchor: Anchor


@dataclass(frozen=True, slots=True)
class Cell:
    x: float
    y: float
    width: float
    height: float
    qr_x: float  # top-left corner of the first module, quiet zone excluded
    qr_y: float
    module: float  # side of one module
    dark_runs: tuple[DarkRun, ...]
    texts: tuple[TextLine, ...]


@dataclass(frozen=True, slots=True)
class Page:
    header: tuple[TextLine, ...]
    cells: tuple[Cell, ...]


def sheet_svg(plates: Sequence[Plate], title: str) -> list[str]:
    """One standalone SVG document per A4 page."""
    return [page_svg(page, title) for page in layout_pages(plates, title)]


def sheet_pdf(plates: Sequence[Plate], title: str, font: bytes) -> bytes:
    """One PDF of all pages; ``font`` is a TrueType font (see qr.fonts) whose glyph subset is embedded."""
    return pages_pdf(layout_pages(plates, title), title, font)


def printed_characters(plates: Sequence[Plate], title: str) -> str:
    """Every character the sheets can show, sorted: what the embedded font subset must hold."""
    fixed = "page 0123456789/…·" + "".join(f"{name}{kind}" for kind, name in KIND_NAMES.items())
    return "".join(sorted({*title, *fixed, *(char for plate in plates for char in plate.label)}))


def pages_pdf(pages: Sequence[Page], title: str, font: bytes) -> bytes:
    font_name = register_pdf_font(font)
    buffer = io.BytesIO()
    # invariant: same input, same bytes, so sheets can be cached and compared.
    pdf = canvas.Canvas(
        buffer,
        pagesize=(PAGE_WIDTH * mm, PAGE_HEIGHT * mm),
        invariant=True,
        pageCompression=1,
    )
    pdf.setTitle(title)
    for page in pages:
        _draw_page(pdf, page, font_name)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# ---- layout, shared by both renderers ----


def layout_pages(plates: Sequence[Plate], title: str) -> list[Page]:
    """Positions of everything on every page, in mm from the page's top-left corner."""
    if not plates:
        raise ValueError("no plates to lay out")
    batches = list(paginate(plates))
    return [
        layout_page(grid, batch, title, number, len(batches))
        for number, (grid, batch) in enumerate(batches, 1)
    ]


def layout_page(grid: Grid, batch: Sequence[Plate], title: str, number: int, total: int) -> Page:
    """One page on its own, so that pages can be laid out in separate processes."""
    return Page(
        header=_header(title, f"page {number}/{total}"),
        cells=tuple(_cell(plate, grid, index) for index, plate in enumerate(batch)),
    )


def paginate(plates: Sequence[Plate]) -> Iterator[tuple[Grid, list[Plate]]]:
    # A new page starts whenever the grid changes: big and small plates never share one.
    for grid, run in itertools.groupby(plates, key=lambda plate: GRIDS[plate.kind]):
        same_grid = list(run)
        per_page = grid.columns * grid.rows
        for start in range(0, len(same_grid), per_page):
            yield grid, same_grid[start : start + per_page]


def _header(title: str, page_label: str) -> tuple[TextLine, ...]:
    baseline = PAGE_MARGIN + HEADER_FONT * ASCENT
    title_width = PAGE_WIDTH - 2 * PAGE_MARGIN - _text_width(page_label, HEADER_FONT) - HEADER_FONT
    return (
        TextLine(
            _truncate(title, title_width, HEADER_FONT),
            PAGE_MARGIN,
            baseline,
            HEADER_FONT,
            "start",
        ),
        TextLine(page_label, PAGE_WIDTH - PAGE_MARGIN, baseline, HEADER_FONT, "end"),
    )


def _cell(plate: Plate, grid: Grid, index: int) -> Cell:
    width = (PAGE_WIDTH - 2 * PAGE_MARGIN) / grid.columns
    height = (PAGE_HEIGHT - 2 * PAGE_MARGIN - HEADER_HEIGHT) / grid.rows
    x = PAGE_MARGIN + (index % grid.columns) * width
    y = PAGE_MARGIN + HEADER_HEIGHT + (index // grid.columns) * height
    text_blocks = LABEL_MAX_LINES * grid.label_font * LINE_SPACING + KIND_FONT * LINE_SPACING
    qr_side = min(width - 2 * CELL_PADDING, height - 2 * CELL_PADDING - QR_LABEL_GAP - text_blocks)
    code = render.modules(plate.url)
    module = qr_side / (len(code) + 2 * QR_QUIET_ZONE)
    return Cell(
        x=x,
        y=y,
        width=width,
        height=height,
        qr_x=x + (width - qr_side) / 2 + QR_QUIET_ZONE * module,
        qr_y=y + CELL_PADDING + QR_QUIET_ZONE * module,
        module=module,
        dark_runs=_dark_runs(code),
        texts=_cell_texts(
            plate,
            grid,
            x,
            width,
            top=y + CELL_PADDING + qr_side + QR_LABEL_GAP,
            bottom=y + height,
        ),
    )


def _cell_texts(
    plate: Plate, grid: Grid, x: float, width: float, top: float, bottom: float
) -> tuple[TextLine, ...]:
    """The wrapped label from top down, then the kind on the cell's bottom edge."""
    center = x + width / 2
    size, lines = _fit_label(plate.label, width - 2 * CELL_PADDING, grid.label_font)
    labels = (
        TextLine(line, center, top + (i * LINE_SPACING + ASCENT) * size, size, "middle")
        for i, line in enumerate(lines)
    )
    kind_baseline = bottom - CELL_PADDING - (1 - ASCENT) * KIND_FONT
    return (
        *labels,
        TextLine(
            f"{KIND_NAMES[plate.kind]} · {plate.kind}",
            center,
            kind_baseline,
            KIND_FONT,
            "middle",
        ),
    )


def _dark_runs(code: render.Modules) -> tuple[DarkRun, ...]:
    """Horizontal runs of dark modules: far fewer shapes than one per module."""
    return tuple(
        (row, run.start(), run.end() - run.start())
        for row, modules in enumerate(code)
        for run in _DARK_RUN.finditer(modules)
    )


def _fit_label(text: str, width: float, largest: float) -> tuple[float, list[str]]:
    """Largest font size at which the label fits in LABEL_MAX_LINES lines;
    else the smallest size, clipped with "…"."""
    # The epsilon keeps float error from adding or dropping the smallest step.
    steps = int((largest - LABEL_MIN_FONT) / FONT_STEP + 1e-9)
    for size in (largest - step * FONT_STEP for step in range(steps + 1)):
        lines = _wrap(text, width, size)
        if len(lines) <= LABEL_MAX_LINES:
            return size, lines
    *kept, last = lines[:LABEL_MAX_LINES]
    return size, [*kept, _clip(last, width, size)]


def _wrap(text: str, width: float, size: float) -> list[str]:
    """Greedy wrap: space-separated parts stay whole when they fit on a line,
    otherwise CJK text breaks per character."""

    def fits(candidate: str) -> bool:
        return _text_width(candidate, size) <= width

    lines: list[str] = []
    line = ""
    for word in text.split():
        joined = f"{line} {word}" if line else word
        if fits(joined):
            line = joined
        elif fits(word):
            lines.append(line)
            line = word
        else:
            line = f"{line} " if line else ""
            for piece in _pieces(word, fits):
                if line.strip() and not fits(line + piece):
                    lines.append(line.rstrip())
                    line = ""
                line += piece
    if line:
        lines.append(line)
    return lines


def _pieces(word: str, fits: Callable[[str], bool]) -> Iterator[str]:
    # Latin letters and digits ("1203", "88") stay together unless a line is too short.
    for unit in re.findall(r"[!-~]+|.", word):
        yield from [unit] if fits(unit) else unit


def _truncate(text: str, width: float, size: float) -> str:
    return text if _text_width(text, size) <= width else _clip(text, width, size)


def _clip(text: str, width: float, size: float) -> str:
    """Shorten text until it fits with a trailing "…" showing something was cut."""
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _text_width(text: str, size: float) -> float:
    return size * sum(0.6 if char in _NARROW else 1.0 for char in text)


# ---- SVG ----


def page_svg(page: Page, title: str) -> str:
    width, height = _n(PAGE_WIDTH), _n(PAGE_HEIGHT)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}mm" height="{height}mm"'
        f' viewBox="0 0 {width} {height}" font-family="{SVG_FONT_FAMILY}">',
        f"<title>{_xml(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    for cell in page.cells:
        parts += [_cut_guide_svg(cell), _qr_svg(cell)]
        parts += [_text_svg(line) for line in cell.texts]
    parts += [_text_svg(line) for line in page.header]
    parts.append("</svg>")
    return "\n".join(parts)


def _cut_guide_svg(cell: Cell) -> str:
    return (
        f'<rect x="{_n(cell.x)}" y="{_n(cell.y)}"'
        f' width="{_n(cell.width)}" height="{_n(cell.height)}" fill="none"'
        f' stroke="#bbb" stroke-width="{_n(CUT_GUIDE_WIDTH)}"'
        f' stroke-dasharray="{_n(CUT_GUIDE_DASH)}"/>'
    )


def _qr_svg(cell: Cell) -> str:
    # One path in module units, scaled into place; crispEdges avoids seams between runs.
    runs = "".join(f"M{col} {row}h{length}v1h-{length}z" for row, col, length in cell.dark_runs)
    return (
        f'<path transform="translate({_n(cell.qr_x)} {_n(cell.qr_y)})'
        f' scale({cell.module:.4f})" d="{runs}" fill="#000"'
        ' shape-rendering="crispEdges"/>'
    )


def _text_svg(line: TextLine) -> str:
    return (
        f'<text x="{_n(line.x)}" y="{_n(line.y)}" font-size="{_n(line.size)}"'
        f' text-anchor="{line.anchor}">{_xml(line.text)}</text>'
    )


def _xml(text: str) -> str:
    return escape(_XML_INVALID.sub("", text))


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


# ---- PDF ----


@functools.cache
def register_pdf_font(font: bytes) -> str:
    """Register the font once per process, under a name tied to its bytes."""
    name = f"AnjuPlate-{hashlib.sha256(font).hexdigest()[:12]}"
    pdfmetrics.registerFont(TTFont(name, io.BytesIO(font)))
    return name


def _draw_page(pdf: canvas.Canvas, page: Page, font_name: str) -> None:
    # Draw in the layout's millimetres; showPage() resets the transform every page.
    pdf.scale(mm, mm)
    for cell in page.cells:
        _draw_cut_guide(pdf, cell)
        _draw_qr(pdf, cell)
        for line in cell.texts:
            _draw_text(pdf, line, font_name)
    for line in page.header:
        _draw_text(pdf, line, font_name)


def _draw_cut_guide(pdf: canvas.Canvas, cell: Cell) -> None:
    pdf.saveState()
    pdf.setStrokeGray(0.73)
    pdf.setLineWidth(CUT_GUIDE_WIDTH)
    pdf.setDash(CUT_GUIDE_DASH, CUT_GUIDE_DASH)
    pdf.rect(
        cell.x,
        PAGE_HEIGHT - cell.y - cell.height,
        cell.width,
        cell.height,
        stroke=1,
        fill=0,
    )
    pdf.restoreState()


def _draw_qr(pdf: canvas.Canvas, cell: Cell) -> None:
    # In module units with y downwards, as the SVG does: whole-number rectangles keep the
    # stream small and skip reportlab's float formatting, the slowest part of a big run.
    runs = " ".join(f"{column} {row} {length} 1 re" for row, column, length in cell.dark_runs)
    pdf.saveState()
    pdf.transform(cell.module, 0, 0, -cell.module, cell.qr_x, PAGE_HEIGHT - cell.qr_y)
    pdf.setFillGray(0)
    pdf.addLiteral(f"{runs} f")
    pdf.restoreState()


def _draw_text(pdf: canvas.Canvas, line: TextLine, font_name: str) -> None:
    pdf.setFont(font_name, line.size)
    draw = {
        "start": pdf.drawString,
        "middle": pdf.drawCentredString,
        "end": pdf.drawRightString,
    }[line.anchor]
    draw(line.x, PAGE_HEIGHT - line.y, line.text)
