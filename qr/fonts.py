"""The CJK font embedded in plate PDFs: a TrueType subset holding only the glyphs a print run uses.

PDF viewers and print shops without Chinese fonts show nothing for a font that is only named, so
the sheets carry their glyphs. The usual font (Noto Sans CJK, Debian's fonts-noto-cjk; the setting
ANJU_PLATE_FONT) is CFF-based, which reportlab cannot embed: the subset's outlines are converted to TrueType first.
"""

import functools
import hashlib
import io
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTFont, TTLibError, newTable

# In a collection, the face for the plates' language (Simplified Chinese), else the first one.
PREFERRED_FACE_SUFFIX = " SC"
# Cubic-to-quadratic tolerance in font units (of 1000 per em): invisible at any print size.
CURVE_TOLERANCE = 1.0


class FontUnusable(ValueError):
    """The configured plate font is missing, unreadable, or lacks glyphs the plates need."""


@functools.lru_cache(maxsize=8)
def embeddable_subset(path: str, text: str) -> bytes:
    """A TrueType font with the glyphs of ``text`` only, ready for reportlab to embed."""
    font = _open_face(path)
    cmap = font.getBestCmap() or {}
    missing = sorted({char for char in text if not char.isspace() and ord(char) not in cmap})
    if missing:
        raise FontUnusable(f"plate font {path} has no glyph for {''.join(missing)!r}: choose a CJK font")
    options = subset.Options()
    options.layout_features = []  # plain horizontal text: no shaping tables needed
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    if "CFF " in font:
        _cff_to_truetype(font)
    # reportlab keeps the faces it has loaded by PostScript name: a second subset of the same font
    # under the same name would have its characters looked up in the first one's (and vanish).
    postscript_name = f"AnjuPlate-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    for record in font["name"].names:
        if record.nameID == 6:
            record.string = postscript_name
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def _open_face(path: str) -> TTFont:
    if not Path(path).is_file():
        raise FontUnusable(
            f"plate font {path} not found: install fonts-noto-cjk or choose another CJK TTF/OTF/TTC"
        )
    try:
        if path.lower().endswith((".ttc", ".otc")):
            names = [face["name"].getDebugName(1) or "" for face in TTCollection(path, lazy=True).fonts]
            number = next((i for i, name in enumerate(names) if name.endswith(PREFERRED_FACE_SUFFIX)), 0)
            return TTFont(path, fontNumber=number)
        return TTFont(path)
    except (TTLibError, OSError) as error:
        raise FontUnusable(f"plate font {path} is not a readable TrueType/OpenType font: {error}") from error


def _cff_to_truetype(font: TTFont) -> None:
    """Replace PostScript (CFF) outlines by quadratic TrueType ones, as fontTools' otf2ttf does."""
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, CURVE_TOLERANCE, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf
    for table in ("CFF ", "VORG"):
        if table in font:
            del font[table]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in glyf.glyphs.items():
        if hasattr(glyph, "xMin"):  # left side bearing from the new outline
            hmtx[name] = (hmtx[name][0], glyph.xMin)
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for field in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, field, 1 if field == "maxZones" else 0)
    font["maxp"] = maxp
    post = font["post"]
    post.formatType = 3.0  # no glyph names: reportlab and viewers do not need them
    font.sfntVersion = "\x00\x01\x00\x00"
