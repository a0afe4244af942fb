"""Doorplate print run: plates/s to render (SVG pages + one PDF) and verify them from the files.

Builds N plates shaped like a community's (2 gates, 40 buildings, 120 unit doors, the rest
house doors, real-length Chinese addresses), runs the print run `anju plates` uses and prints
how long rendering and reading back took (goal: 10 000 plates in < 30 s on 2 cores).

    .venv/bin/python bench/plates.py [--plates 10000] [--workers 2] [--font PATH]

With --workers 1 everything runs in this process and the CPU time it cost is printed too: the
figure to compare on a machine shared with other work.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.settings import Settings  # noqa: E402
from qr import Plate, new_plate_token, plate_url, print_run  # noqa: E402

ADDRESS = "武汉市东西湖区金银湖街道金山大道88号 幸福家园小区 {building}栋{unit}单元{room}室"
BIG_DOORS = ["gate"] * 2 + ["building"] * 40 + ["unit"] * 120


def community(count: int) -> list[Plate]:
    kinds = (BIG_DOORS + ["house"] * count)[:count]
    return [
        Plate(
            url=plate_url("https://anju.example.cn", new_plate_token()),
            label=ADDRESS.format(building=i % 40 + 1, unit=i % 3 + 1, room=1001 + i),
            kind=kind,
        )
        for i, kind in enumerate(kinds)
    ]


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--plates", type=int, default=10_000)
    options.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    options.add_argument("--font", default=Settings().plate_font)
    args = options.parse_args()
    plates = community(args.plates)
    rendered_at = []

    def progress(step: str, done: int, total: int) -> None:
        if step == "rendering" and done == total:
            rendered_at.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        started, cpu = time.perf_counter(), time.process_time()
        run = print_run(
            plates, "幸福家园小区 二维码门牌", Path(out), "bench", args.font, args.workers, progress
        )
        finished = time.perf_counter()
    render, verify, total = rendered_at[0] - started, finished - rendered_at[0], finished - started
    print(f"{args.plates} plates, {len(run.svg_pages)} pages, {args.workers} workers, {os.cpu_count()} cores")
    print(f"render (SVG + PDF): {render:6.1f} s  {args.plates / render:7.0f} plates/s")
    print(f"verify (from files): {verify:6.1f} s  {args.plates / verify:7.0f} plates/s")
    print(
        f"total:               {total:6.1f} s  {args.plates / total:7.0f} plates/s  (goal: 10 000 in < 30 s)"
    )
    if args.workers == 1:  # all in this process: CPU time is the cost, whatever else the machine runs
        used = time.process_time() - cpu
        print(f"CPU: {used:.1f} s ({args.plates / used:.0f} plates per CPU-second)")
    print(f"verified {run.report.verified}/{args.plates}")
    if run.report.failures:
        raise SystemExit(f"{len(run.report.failures)} failures, first: {run.report.failures[0]}")


if __name__ == "__main__":
    main()
