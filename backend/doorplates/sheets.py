"""``anju plates``: issue missing doorplates, render printable sheets, decode every code back."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from backend.doorplates.service import coverage, ensure_plates, live_plates
from backend.errors import NotFound
from backend.registry.tables import Community
from backend.settings import Settings
from qr.sheets import Plate, sheet_pdf, sheet_svg
from qr.tokens import plate_url
from qr.verify import verify_plates


class PlatesReport(msgspec.Struct):
    community: str
    issued: int
    plates: int
    verified: int
    failed: list[str]
    svg_pages: list[str]
    pdf: str
    coverage: float  # addresses whose printed plate decodes back, over all standard addresses

    def __str__(self) -> str:
        lines = [
            f"{self.community}: {self.plates} doorplates ({self.issued} newly issued)",
            f"decoded back with pyzbar: {self.verified}/{self.plates}",
            f"doorplate coverage: {self.coverage:.1%}",
            *(f"  FAILED to decode: {url}" for url in self.failed),
            f"wrote {self.pdf} and {len(self.svg_pages)} SVG pages ({self.svg_pages[0] if self.svg_pages else '-'} …)",
        ]
        return "\n".join(lines)


def _progress(done: int, total: int) -> None:
    """A live counter on a terminal; silence when the output is a log."""
    if sys.stderr.isatty():
        print(f"\rverifying {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


async def print_sheets(settings: Settings, community_id: int, out: Path) -> PlatesReport:
    community = await Community.objects().get(Community.id == community_id)
    if community is None:
        raise NotFound("unknown_community", f"No community {community_id}")
    issued = await ensure_plates(community_id)
    rows = await live_plates(community_id)
    plates = [
        Plate(url=plate_url(settings.public_url, r["token"]), label=r["label"], kind=r["kind"]) for r in rows
    ]
    out.mkdir(parents=True, exist_ok=True)
    title = f"{community.name} 二维码门牌"
    svg_pages = []
    for number, page in enumerate(sheet_svg(plates, title), start=1):
        path = out / f"plates-{community_id}-{number:03d}.svg"
        path.write_text(page, encoding="utf-8")
        svg_pages.append(str(path))
    pdf = out / f"plates-{community_id}.pdf"
    pdf.write_bytes(sheet_pdf(plates, title))
    verified = verify_plates(plates, progress=_progress)
    covered = await coverage(community_id)
    return PlatesReport(
        community=community.name,
        issued=issued,
        plates=len(plates),
        verified=verified.verified,
        failed=verified.failed,
        svg_pages=svg_pages,
        pdf=str(pdf),
        # (plated / addresses) × (decoded / plated) = decoded / addresses
        coverage=covered.overall * (verified.verified / len(plates) if plates else 1.0),
    )
