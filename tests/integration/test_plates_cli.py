"""``anju plates`` renders printable sheets and proves, from the files written, that every plate reads back."""

from __future__ import annotations

import dataclasses
import re

import pypdfium2 as pdfium

from backend.doorplates.sheets import print_sheets
from backend.doorplates.tables import Doorplate
from backend.registry.tables import Address
from qr import sheets
from tests.conftest import anju_beside


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


async def test_plates_command_renders_and_verifies_every_plate(world, settings, tmp_path):
    # A plate revoked (e.g. damaged) leaves its address uncovered until the command reissues one.
    first = await Doorplate.objects().where(Doorplate.community == world.home).first()
    await Doorplate.update({Doorplate.revoked_at: first.created_at}).where(Doorplate.id == first.id)
    env = {
        "ANJU_DATABASE_URL": settings.database_url,
        "ANJU_SECRET_KEY": settings.secret_key,
        "ANJU_PUBLIC_URL": "https://anju.example.cn",
    }
    done = await anju_beside("plates", "--community", str(world.home), "--out", str(tmp_path), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    addresses = await Address.count().where(Address.community == world.home)
    assert f"{addresses} doorplates (1 newly issued)" in done.stdout
    assert (
        f"read back from the written PDF and SVG files: {addresses}/{addresses} plates carry their own code"
        in done.stdout
    )
    assert "doorplate coverage: 100.0%" in done.stdout
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    svg = (tmp_path / f"plates-{world.home}-001.svg").read_text()
    assert "幸福家园" in svg
    # The real PDF: glyphs embedded, and each page's text holds its plates' addresses.
    pdf = (tmp_path / f"plates-{world.home}.pdf").read_bytes()
    assert b"/FontFile2" in pdf
    labels = [
        row["text"] for row in await Address.select(Address.text).where(Address.community == world.home)
    ]
    document = pdfium.PdfDocument(pdf)
    text = squeezed("".join(page.get_textpage().get_text_range() for page in document))
    assert all(squeezed(label) in text for label in labels)


async def test_plates_command_refuses_an_unknown_community(client, settings, tmp_path):
    env = {"ANJU_DATABASE_URL": settings.database_url, "ANJU_SECRET_KEY": settings.secret_key}
    done = await anju_beside("plates", "--community", "999", "--out", str(tmp_path), env=env)
    assert done.returncode != 0 and "No community 999" in done.stderr and "Traceback" not in done.stderr


async def test_plates_command_names_a_missing_font(world, settings, tmp_path):
    env = {
        "ANJU_DATABASE_URL": settings.database_url,
        "ANJU_SECRET_KEY": settings.secret_key,
        "ANJU_PLATE_FONT": str(tmp_path / "missing.ttc"),
    }
    done = await anju_beside("plates", "--community", str(world.home), "--out", str(tmp_path), env=env)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"plate font {tmp_path / 'missing.ttc'} not found" in done.stderr
    assert "ANJU_PLATE_FONT" in done.stderr


async def test_a_renderer_that_drops_modules_fails_and_lists_the_plates(
    world, settings, tmp_path, monkeypatch
):
    # Our own renderer, broken on purpose: the check must catch it from the files alone.
    draw = sheets._draw_qr
    monkeypatch.setattr(
        sheets,
        "_draw_qr",
        lambda pdf, cell: draw(pdf, dataclasses.replace(cell, dark_runs=cell.dark_runs[::2])),
    )
    report = await print_sheets(settings, world.home, tmp_path)
    assert not report.ok and report.verified == 0 and report.coverage == 0.0
    shown = str(report)
    assert f"FAILED: {report.plates} plates do not read back" in shown
    assert f"plates-{world.home}.pdf page 1: " in shown
    assert (tmp_path / f"plates-{world.home}-failures.txt").read_text().count("\n") == len(report.failures)
