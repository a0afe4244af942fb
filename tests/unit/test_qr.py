import io
import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image, ImageFilter

from qr import (
    Plate,
    UnreadableImage,
    decode,
    decode_image,
    is_well_formed,
    new_plate_token,
    plate_url,
    png,
    qr_code,
    render,
    sheet_pdf,
    sheet_svg,
    svg,
    verify_plates,
)
from qr.sheets import LABEL_MAX_LINES, layout_pages

BASE = "https://anju.example.cn"
ADDRESS = "武汉市东西湖区金银湖街道金山大道88号 幸福家园小区 3栋2单元{}室"
SVG_NS = "{http://www.w3.org/2000/svg}"


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
    code = qr_code(plate.url)
    size = code.symbol_size(border=0)[0]
    drawn = [[False] * size for _ in range(size)]
    for row, column, length in page.cells[0].dark_runs:
        for offset in range(length):
            drawn[row][column + offset] = True
    assert drawn == [[bool(module) for module in row] for row in code.matrix_iter(border=0)]


def test_pdf_sheet_pages_and_metadata():
    pdf = sheet_pdf(plates(25), "Block 3 plates")
    assert pdf.startswith(b"%PDF")
    assert pdf_page_count(pdf) == 3
    assert b"/Title (Block 3 plates)" in pdf
    assert b"/STSong-Light" in pdf


def test_pdf_is_reproducible():
    batch = plates(3)
    assert sheet_pdf(batch, "t") == sheet_pdf(batch, "t")


# ---- verify ----


def test_verify_in_worker_processes():
    seen = []
    report = verify_plates(plates(60), workers=2, progress=lambda done, total: seen.append((done, total)))
    assert (report.total, report.verified, report.failed, report.coverage) == (
        60,
        60,
        [],
        1.0,
    )
    assert [done for done, _ in seen] == list(range(1, 61)) and seen[-1] == (60, 60)


def test_verify_reports_a_code_that_reads_back_wrong(monkeypatch):
    batch = plates(5)
    broken = batch[2].url
    real_png = render.png
    monkeypatch.setattr(
        render,
        "png",
        lambda url, **kw: real_png(f"{BASE}/d/wrong" if url == broken else url, **kw),
    )
    report = verify_plates(batch, workers=1)
    assert report.failed == [broken]
    assert (report.verified, report.coverage) == (4, 0.8)


def test_verify_nothing_is_full_coverage():
    assert verify_plates([]).coverage == 1.0
