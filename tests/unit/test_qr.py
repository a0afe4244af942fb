import dataclasses
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageFilter

from backend.settings import Settings
from qr import (
    FontUnusable,
    Plate,
    UnreadableImage,
    decode,
    decode_image,
    is_well_formed,
    new_plate_token,
    plate_url,
    png,
    print_run,
    qr_code,
    render,
    sheet_pdf,
    sheet_svg,
    sheets,
    svg,
    svgraster,
)
from qr.fonts import embeddable_subset
from qr.sheets import LABEL_MAX_LINES, layout_pages, printed_characters

BASE = "https://anju.example.cn"
ADDRESS = "武汉市东西湖区金银湖街道金山大道88号 幸福家园小区 3栋2单元{}室"
SVG_NS = "{http://www.w3.org/2000/svg}"
FONT = Settings().plate_font  # the default: Noto Sans CJK from fonts-noto-cjk (bin/test installs it)


def plates(count: int, kind: str = "house") -> list[Plate]:
    return [
        Plate(
            url=plate_url(BASE, new_plate_token()),
            label=ADDRESS.format(1200 + i),
            kind=kind,
        )
        for i in range(count)
    ]


def pdf_page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", pdf))  # \b: "/Pages" is the page tree, not a page


def svg_texts(page: str) -> list[str]:
    return [element.text or "" for element in ET.fromstring(page).iter(f"{SVG_NS}text")]


# ---- tokens ----


def test_tokens_are_well_formed_and_unique():
    tokens = [new_plate_token() for _ in range(10_000)]
    assert len(set(tokens)) == len(tokens)
    assert all(len(token) == 16 and is_well_formed(token) for token in tokens)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "A" * 15,
        "A" * 17,
        "AAAAAAAAAAAAAAA+",
        "AAAAAAAAAAAAAAA/",
        "AAAAAAAAAAAAAAA=",
        "A" * 16 + "\n",
        None,
        12,
    ],
)
def test_malformed_tokens_are_refused(token):
    assert not is_well_formed(token)


def test_plate_url_joins_without_double_slash():
    assert plate_url(BASE, "abcdEFGH1234_-xy") == f"{BASE}/d/abcdEFGH1234_-xy"
    assert plate_url(BASE + "/", "abcdEFGH1234_-xy") == f"{BASE}/d/abcdEFGH1234_-xy"


# ---- render ----


def test_qr_size_depends_only_on_url_length():
    code = qr_code(plate_url(BASE, new_plate_token()))
    assert (code.error, code.is_micro) == ("M", False)
    assert {qr_code(plate_url(BASE, new_plate_token())).version for _ in range(20)} == {code.version}


def test_svg_is_inline_markup():
    markup = svg(plate_url(BASE, new_plate_token()), scale=2)
    assert markup.startswith("<svg") and "<?xml" not in markup


def test_png_round_trip_gives_exact_url():
    url = plate_url(BASE, new_plate_token())
    assert decode_image(png(url)) == [url]


# ---- decode ----


def test_decodes_a_photo_like_jpeg():
    url = plate_url(BASE, new_plate_token())
    code = Image.open(io.BytesIO(png(url, scale=12))).convert("L").rotate(7, expand=True, fillcolor=255)
    photo = Image.new("L", (2400, 2400), 140)
    photo.paste(code, (900, 700))
    jpeg = io.BytesIO()
    photo.filter(ImageFilter.GaussianBlur(1.2)).save(jpeg, "JPEG", quality=70)
    assert decode_image(jpeg.getvalue()) == [url]


def test_decodes_a_code_on_a_transparent_background():
    # As design tools export it: light modules are fully transparent *black* pixels.
    url = plate_url(BASE, new_plate_token())
    code = Image.open(io.BytesIO(png(url))).convert("L")
    transparent = Image.new("RGBA", code.size, (0, 0, 0, 0))
    transparent.putalpha(code.point(lambda value: 255 - value))
    buffer = io.BytesIO()
    transparent.save(buffer, "PNG")
    assert decode_image(buffer.getvalue()) == [url]


def test_garbage_bytes_are_unreadable():
    with pytest.raises(UnreadableImage, match="not a readable image"):
        decode_image(b"this is not an image at all" * 10)


def test_truncated_image_is_unreadable():
    jpeg = io.BytesIO()
    Image.effect_noise((400, 400), 60).save(jpeg, "JPEG")
    with pytest.raises(UnreadableImage):
        decode_image(jpeg.getvalue()[:2000])


def test_image_without_code_gives_empty_list():
    blank = io.BytesIO()
    Image.effect_noise((300, 200), 40).save(blank, "PNG")
    assert decode_image(blank.getvalue()) == []


@pytest.mark.parametrize(
    ("size", "tried"),
    [
        ((2400, 1800), [(2400, 1800), (1600, 1200), (1600, 1200)]),
        ((800, 600), [(800, 600), (800, 600)]),
    ],
)
def test_retries_downscaled_then_with_autocontrast(monkeypatch, size, tried):
    seen = []
    monkeypatch.setattr(decode, "_scan", lambda image: seen.append(image.size) or [])
    image = io.BytesIO()
    Image.new("L", size, 128).save(image, "PNG")
    assert decode_image(image.getvalue()) == []
    assert seen == tried


def test_oversized_image_is_refused_without_touching_pillow_limit():
    limit = Image.MAX_IMAGE_PIXELS
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, "PNG")  # 48 Mpx, a few kB on disk
    with pytest.raises(UnreadableImage, match="exceeds"):
        decode_image(bomb.getvalue())
    assert Image.MAX_IMAGE_PIXELS == limit


# ---- sheets ----


def test_plate_kind_is_validated():
    with pytest.raises(ValueError, match="kind"):
        Plate(url=BASE, label="x", kind="garage")


def test_empty_sheet_is_refused():
    with pytest.raises(ValueError):
        sheet_svg([], "nothing")


def test_svg_sheet_has_one_well_formed_page_per_twelve_house_plates():
    pages = sheet_svg(plates(25), "幸福家园 3栋")
    assert len(pages) == 3
    for number, page in enumerate(pages, start=1):
        root = ET.fromstring(page)
        assert root.get("viewBox") == "0 0 210 297"
        assert f"page {number}/3" in svg_texts(page)
    assert sum(len(ET.fromstring(page).findall(f"{SVG_NS}path")) for page in pages) == 25


def test_svg_text_is_escaped():
    label = 'A <b> & "c"'
    [page] = sheet_svg([Plate(url=f"{BASE}/d/x", label=label, kind="unit")], "<Title> & co")
    assert "&lt;b&gt; &amp;" in page
    assert label in svg_texts(page)
    assert ET.fromstring(page).find(f"{SVG_NS}title").text == "<Title> & co"


def test_gate_plates_get_their_own_bigger_grid():
    layout = layout_pages(plates(2, "gate") + plates(12), "mixed")
    assert [len(page.cells) for page in layout] == [2, 12]
    gate, house = layout[0].cells[0], layout[1].cells[0]
    assert gate.width > house.width and gate.module > house.module


def test_cells_do_not_overlap_and_stay_on_the_page():
    for page in layout_pages(plates(12), "t"):
        boxes = [(cell.x, cell.y, cell.x + cell.width, cell.y + cell.height) for cell in page.cells]
        for i, a in enumerate(boxes):
            assert 0 <= a[0] and a[2] <= 210 and 0 <= a[1] and a[3] <= 297
            for b in boxes[i + 1 :]:
                assert (
                    a[2] <= b[0] + 1e-9 or b[2] <= a[0] + 1e-9 or a[3] <= b[1] + 1e-9 or b[3] <= a[1] + 1e-9
                )


def test_long_labels_wrap_then_clip():
    url = f"{BASE}/d/x"
    short = Plate(url=url, label=ADDRESS.format(1203), kind="house")
    huge = Plate(url=url, label="很长的地址" * 40, kind="house")
    [page] = layout_pages([short, huge], "t")
    short_lines = [line.text for line in page.cells[0].texts[:-1]]
    assert 1 < len(short_lines) <= LABEL_MAX_LINES
    assert "".join(short_lines).replace(" ", "") == short.label.replace(" ", "")
    huge_lines = [line.text for line in page.cells[1].texts[:-1]]
    assert len(huge_lines) == LABEL_MAX_LINES and huge_lines[-1].endswith("…")


def test_vector_modules_reproduce_the_qr_matrix():
    plate = plates(1)[0]
    [page] = layout_pages([plate], "t")
    code = render.modules(plate.url)
    drawn = [[0] * len(code) for _ in code]
    for row, column, length in page.cells[0].dark_runs:
        for offset in range(length):
            drawn[row][column + offset] = 1
    assert drawn == [list(row) for row in code]


def test_printed_modules_decode_to_the_url_at_level_m():
    url = plate_url(BASE, new_plate_token())
    code = render.modules(url)
    assert len(code) == qr_code(url).symbol_size(border=0)[0]  # version 3, as segno would choose
    image = Image.new("L", (len(code) + 8, len(code) + 8), 255)
    for y, row in enumerate(code):
        for x, dark in enumerate(row):
            if dark:
                image.putpixel((x + 4, y + 4), 0)
    buffer = io.BytesIO()
    image.resize((image.width * 4, image.height * 4), Image.NEAREST).save(buffer, "PNG")
    assert decode_image(buffer.getvalue()) == [url]


@pytest.fixture(scope="module")
def font() -> bytes:
    return embeddable_subset(FONT, printed_characters(plates(1), "Block 3 plates 幸福家园"))


def test_pdf_sheet_pages_and_metadata(font):
    pdf = sheet_pdf(plates(25), "Block 3 plates", font)
    assert pdf.startswith(b"%PDF")
    assert pdf_page_count(pdf) == 3
    assert b"/Title (Block 3 plates)" in pdf


def test_pdf_embeds_the_cjk_glyphs_and_its_text_is_the_address(font):
    batch = plates(2)
    pdf = sheet_pdf(batch, "幸福家园", font)
    # Embedded (FontFile2: TrueType outlines), not merely named as STSong-Light was.
    assert b"/FontFile2" in pdf and b"STSong" not in pdf
    text = pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range()
    squeezed = re.sub(r"\s+", "", text)
    for plate in batch:
        assert plate.label.replace(" ", "") in squeezed
    assert "幸福家园" in text and "户门" in text


def test_each_print_run_font_subset_keeps_its_own_text():
    # reportlab caches faces by PostScript name: two subsets of one font once shared it, and
    # the second run's addresses vanished from its PDF.
    for label in ("幸福家园 1栋", "很长的地址 2栋"):
        batch = [Plate(url=f"{BASE}/d/x", label=label, kind="house")]
        pdf = sheet_pdf(batch, "t", embeddable_subset(FONT, printed_characters(batch, "t")))
        assert label in pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range()


def test_pdf_is_reproducible(font):
    batch = plates(3)
    assert sheet_pdf(batch, "t", font) == sheet_pdf(batch, "t", font)


# ---- the plate font ----


def test_cff_font_becomes_an_embeddable_truetype_subset():
    subset = embeddable_subset(FONT, "幸福家园0123")
    assert subset[:4] == b"\x00\x01\x00\x00"  # TrueType outlines, which reportlab embeds
    assert len(subset) < 20_000  # a handful of glyphs, not the 20 MB collection


def test_missing_font_is_a_clear_error(tmp_path):
    with pytest.raises(FontUnusable, match="not found: install fonts-noto-cjk"):
        embeddable_subset(str(tmp_path / "nowhere.ttc"), "幸福")


def test_font_without_the_glyphs_is_refused():
    latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    with pytest.raises(FontUnusable, match="no glyph for '幸福'"):
        embeddable_subset(latin, "幸福 ab")


def test_font_that_is_no_font_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font" * 100)
    with pytest.raises(FontUnusable, match="not a readable"):
        embeddable_subset(str(bogus), "幸福")


# ---- print runs: what is written is what is checked ----


def run(batch, out: Path, **kwargs):
    return print_run(batch, "幸福家园小区 二维码门牌", out, "plates-7", FONT, **kwargs)


def thinned(runs):
    """Every other dark module dropped: a renderer bug that still draws something code-like."""
    modules = [(row, column + i) for row, column, length in runs for i in range(length)]
    return tuple((row, column, 1) for row, column in modules[::2])


def test_print_run_writes_and_verifies_every_sheet(tmp_path):
    batch = plates(2, "gate") + plates(13)
    result = run(batch, tmp_path)
    assert (result.report.total, result.report.verified, result.report.failures) == (15, 15, [])
    assert [Path(p).name for p in result.svg_pages] == [f"plates-7-00{n}.svg" for n in (1, 2, 3)]
    assert pdf_page_count(Path(result.pdf).read_bytes()) == 3


def test_print_run_in_worker_processes_reports_progress(tmp_path):
    seen = []
    batch = plates(12 * 9 + 1)  # 10 pages: enough to start the pool
    result = run(batch, tmp_path, workers=2, progress=lambda *step: seen.append(step))
    assert result.report.verified == len(batch) and result.report.failures == []
    assert ("rendering", 10, 10) in seen and seen[-1] == ("verifying", 10, 10)
    assert len(pdfium.PdfDocument(result.pdf)) == 10  # the workers' parts, merged in order
    # merged in page order: page 10 carries the last plate's address
    last = pdfium.PdfDocument(result.pdf)[9].get_textpage().get_text_range()
    assert batch[-1].label.replace(" ", "") in re.sub(r"\s+", "", last) and "page 10/10" in last


def test_pdf_renderer_that_drops_every_other_module_fails(tmp_path, monkeypatch):
    draw = sheets._draw_qr
    monkeypatch.setattr(
        sheets,
        "_draw_qr",
        lambda pdf, cell: draw(pdf, dataclasses.replace(cell, dark_runs=thinned(cell.dark_runs))),
    )
    batch = plates(14)
    report = run(batch, tmp_path).report
    assert report.verified == 0 and report.coverage == 0.0
    assert {(f.url, f.artefact) for f in report.failures} == {(p.url, "plates-7.pdf") for p in batch}
    assert all(f.problem.startswith(("code reads", "no readable code")) for f in report.failures)


def test_svg_renderer_that_drops_every_other_module_fails(tmp_path, monkeypatch):
    draw = sheets._qr_svg
    monkeypatch.setattr(
        sheets, "_qr_svg", lambda cell: draw(dataclasses.replace(cell, dark_runs=thinned(cell.dark_runs)))
    )
    batch = plates(3)
    report = run(batch, tmp_path).report
    assert report.verified == 0
    assert {(f.url, f.artefact, f.problem) for f in report.failures} == {
        (p.url, "plates-7-001.svg", "no readable code") for p in batch
    }


def test_codes_swapped_between_two_plates_fail_both(tmp_path, monkeypatch):
    batch = plates(5)
    first, third = batch[0].url, batch[2].url
    encode = render.modules
    swap = {first: third, third: first}
    monkeypatch.setattr(render, "modules", lambda url: encode(swap.get(url, url)))
    report = run(batch, tmp_path).report
    assert (report.verified, report.failed_urls) == (3, [first, third])
    assert {(f.url, f.artefact, f.problem) for f in report.failures} == {
        (first, "plates-7.pdf", f"code reads {third!r}"),
        (third, "plates-7.pdf", f"code reads {first!r}"),
        (first, "plates-7-001.svg", f"code reads {third!r}"),
        (third, "plates-7-001.svg", f"code reads {first!r}"),
    }


def test_pdf_address_text_that_differs_fails(tmp_path, monkeypatch):
    draw = sheets._draw_text
    batch = plates(2)
    monkeypatch.setattr(
        sheets,
        "_draw_text",
        lambda pdf, line, font: draw(
            pdf, dataclasses.replace(line, text=line.text.replace("3栋", "8栋")), font
        ),
    )
    report = run(batch, tmp_path).report
    assert report.verified == 0
    assert {(f.artefact, f.problem.split(" reads ")[0]) for f in report.failures} == {
        ("plates-7.pdf", "address text")
    }


def test_a_page_missing_from_the_pdf_fails_its_plates(tmp_path, monkeypatch):
    write = sheets.pages_pdf
    monkeypatch.setattr("qr.printrun.pages_pdf", lambda pages, title, font: write(pages[:-1], title, font))
    monkeypatch.setattr("qr.printrun.CHUNKS_PER_WORKER", 1)  # one part: its last page is the document's
    batch = plates(14)
    report = run(batch, tmp_path, workers=1).report
    assert report.failed_urls == [plate.url for plate in batch[12:]]
    assert {f.problem for f in report.failures} == {"page missing from the PDF"}


def test_an_svg_we_cannot_read_fails_instead_of_passing(tmp_path, monkeypatch):
    page_svg = sheets.page_svg
    monkeypatch.setattr(
        "qr.printrun.page_svg",
        lambda page, title: page_svg(page, title).replace("<path ", '<circle r="1"/><path '),
    )
    report = run(plates(1), tmp_path).report
    assert [f.problem for f in report.failures] == ["unreadable SVG: cannot rasterise <circle>"]


def test_an_unreadable_pdf_fails_every_plate(tmp_path, monkeypatch):
    monkeypatch.setattr("qr.printrun.pages_pdf", lambda pages, title, font: b"%PDF-1.4 broken")
    batch = plates(2)
    report = run(batch, tmp_path, workers=1).report
    assert report.failed_urls == [plate.url for plate in batch]
    assert all(f.problem.startswith("unreadable PDF") for f in report.failures)


def test_clipped_and_empty_labels_still_verify(tmp_path):
    huge = Plate(url=plate_url(BASE, new_plate_token()), label="很长的地址" * 40, kind="house")
    empty = Plate(url=plate_url(BASE, new_plate_token()), label="", kind="house")
    assert run([huge, empty], tmp_path).report.failures == []


# ---- SVG rasteriser ----


def test_rasteriser_draws_general_paths_like_runs():
    runs = '<path d="M1 1h2v1h-2z" fill="#000"/>'
    general = '<path d="M 1,1 L 3 1 l 0 1 H 1 Z" fill="#000"/>'
    pages = [
        svgraster.rasterise(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 3">{body}</svg>', 10)
        for body in (runs, general)
    ]
    assert pages[0].image.tobytes() == pages[1].image.tobytes()
    assert pages[0].image.getpixel((20, 15)) == 0 and pages[0].image.getpixel((5, 5)) == 255


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('<path d="M0 0c1 1 2 2 3 3z"/>', "path command 'c'"),
        ('<path transform="rotate(45)" d="M0 0h1v1h-1z"/>', "transform rotate"),
        ("<g/>", "cannot rasterise <g>"),
    ],
)
def test_rasteriser_refuses_what_it_cannot_draw(body, problem):
    with pytest.raises(svgraster.UnsupportedSvg, match=re.escape(problem)):
        svgraster.rasterise(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 3">{body}</svg>', 10)
