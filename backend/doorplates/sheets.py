"""``anju plates``: issue missing doorplates, render printable sheets, read the written sheets back."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import msgspec

from backend.doorplates.service import coverage, ensure_plates, live_plates
from backend.errors import Invalid, NotFound
from backend.registry.tables import Community
from backend.settings import Settings
from qr.fonts import FontUnusable
from qr.printrun import print_run
from qr.sheets import Plate
from qr.tokens import plate_url

LISTED_FAILURES = 50  # on the terminal; the full list goes to a file beside the sheets
BAR_WIDTH = 30


class PlatesReport(msgspec.Struct):
    community: str
    issued: int
    plates: int
    verified: int  # plates whose code and address read back from every written sheet
    failures: list[str]  # one line per problem: plate, file, page, what was read
    failures_file: str  # "" when nothing failed
    svg_pages: list[str]
    pdf: str
    seconds: float
    coverage: float  # addresses whose printed plate reads back, over all standard addresses

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        rate = self.plates / self.seconds if self.seconds else 0.0
        lines = [
            f"{self.community}: {self.plates} doorplates ({self.issued} newly issued)",
            f"wrote {self.pdf} (CJK font embedded) and {len(self.svg_pages)} SVG pages"
            f" ({self.svg_pages[0] if self.svg_pages else '-'} …) in {self.seconds:.1f} s ({rate:.0f} plates/s)",
            f"read back from the written PDF and SVG files: {self.verified}/{self.plates} plates"
            " carry their own code and address",
            f"doorplate coverage: {self.coverage:.1%}",
        ]
        if self.failures:
            lines.append(f"FAILED: {self.plates - self.verified} plates do not read back as they should:")
            lines += [f"  {failure}" for failure in self.failures[:LISTED_FAILURES]]
            if len(self.failures) > LISTED_FAILURES:
                lines.append(
                    f"  … {len(self.failures) - LISTED_FAILURES} more, all listed in {self.failures_file}"
                )
        return "\n".join(lines)


def _progress(step: str, done: int, total: int) -> None:
    """A progress bar on a terminal; nothing when stderr is a log (the summary says it all)."""
    if not sys.stderr.isatty():
        return
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    bar = "█" * filled + "·" * (BAR_WIDTH - filled)
    end = "\n" if done >= total else ""
    print(f"\r{step:<10} [{bar}] {done}/{total} pages", end=end, file=sys.stderr, flush=True)


async def print_sheets(settings: Settings, community_id: int, out: Path) -> PlatesReport:
    community = await Community.objects().get(Community.id == community_id)
    if community is None:
        raise NotFound("unknown_community", f"No community {community_id}")
    issued = await ensure_plates(community_id)
    rows = await live_plates(community_id)
    plates = [
        Plate(url=plate_url(settings.public_url, r["token"]), label=r["label"], kind=r["kind"]) for r in rows
    ]
    if not plates:
        raise Invalid(
            "no_addresses", f"Community {community_id} has no standard addresses to print plates for"
        )
    stem = f"plates-{community_id}"
    started = time.perf_counter()
    try:
        # CPU-bound, in worker processes; the thread keeps the event loop (and its database pool) alive.
        run = await asyncio.to_thread(
            print_run,
            plates,
            f"{community.name} 二维码门牌",
            out,
            stem,
            settings.plate_font,
            progress=_progress,
        )
    except FontUnusable as error:
        raise Invalid("plate_font", f"{error} (setting ANJU_PLATE_FONT)") from error
    seconds = time.perf_counter() - started
    failures = [str(failure) for failure in run.report.failures]
    failures_file = out / f"{stem}-failures.txt"
    if failures:
        failures_file.write_text("\n".join(failures) + "\n", encoding="utf-8")
    else:
        failures_file.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
    covered = await coverage(community_id)
    return PlatesReport(
        community=community.name,
        issued=issued,
        plates=len(plates),
        verified=run.report.verified,
        failures=failures,
        failures_file=str(failures_file) if failures else "",
        svg_pages=run.svg_pages,
        pdf=run.pdf,
        seconds=seconds,
        # (plated / addresses) × (read back / plated) = read back / addresses
        coverage=covered.overall * run.report.coverage,
    )
