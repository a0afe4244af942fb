"""A print run: lay out, render (SVG pages + one PDF) and verify a set of plates, on every core.

Encoding the codes (segno's mask choice) and reading the sheets back dominate, so both run in a
process pool over chunks of pages. The chunks' PDFs are merged with PDFium into the one PDF that
is written; verification then reads the files as written, never the data they were made from.
"""

import math
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pypdfium2 as pdfium

from qr import fonts, verify
from qr.sheets import Grid, Plate, layout_page, page_svg, pages_pdf, paginate, printed_characters
from qr.verify import Expected, VerifyReport

# Below this many pages, starting worker processes costs more than it saves.
IN_PROCESS_BELOW = 8
# Several chunks per worker balance the load and keep the progress bar moving.
CHUNKS_PER_WORKER = 6

Progress = Callable[[str, int, int], None]  # (step, pages done, pages in all)


class PrintRun(msgspec.Struct, frozen=True):
    svg_pages: list[str]
    pdf: str
    report: VerifyReport


@dataclass(frozen=True, slots=True)
class _Chunk:
    first: int  # 1-based number of its first page
    total: int  # pages in the whole run, for the "page n/N" headers
    batches: list[tuple[Grid, list[Plate]]]


@dataclass(frozen=True, slots=True)
class _Rendered:
    pdf: bytes
    svg_paths: list[str]
    cells: list[tuple[Expected, ...]]  # per page


def print_run(
    plates: Sequence[Plate],
    title: str,
    out: Path,
    stem: str,
    font_path: str,
    workers: int | None = None,
    progress: Progress | None = None,
) -> PrintRun:
    """Write ``{stem}-NNN.svg`` pages and ``{stem}.pdf`` under ``out`` and verify them."""
    font = fonts.embeddable_subset(font_path, printed_characters(plates, title))  # fails before any work
    batches = list(paginate(plates))
    if not batches:
        raise ValueError("no plates to print")
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    chunks = _chunks(batches, workers)
    with _executor(len(batches), workers) as pool:
        rendered = _collect(
            (pool.submit(_render, chunk, title, font, out, stem) for chunk in chunks),
            lambda result: len(result.svg_paths),
            "rendering",
            len(batches),
            progress,
        )
        pdf_path = out / f"{stem}.pdf"
        _merge_pdfs([part.pdf for part in rendered], pdf_path)
        svg_paths = [path for part in rendered for path in part.svg_paths]
        cells = [page for part in rendered for page in part.cells]
        numbered = list(enumerate(cells, start=1))
        per_chunk = math.ceil(len(numbered) / len(chunks))
        checked = _collect(
            (
                pool.submit(_verify, pdf_path, svg_paths, numbered[start : start + per_chunk])
                for start in range(0, len(numbered), per_chunk)
            ),
            lambda result: result[0],
            "verifying",
            len(batches),
            progress,
        )
    failures = [failure for _, found in checked for failure in found]
    failed = {failure.url for failure in failures}
    return PrintRun(
        svg_pages=svg_paths,
        pdf=str(pdf_path),
        report=VerifyReport(total=len(plates), verified=len(plates) - len(failed), failures=failures),
    )


def _chunks(batches: list[tuple[Grid, list[Plate]]], workers: int) -> list[_Chunk]:
    size = math.ceil(len(batches) / (workers * CHUNKS_PER_WORKER))
    return [
        _Chunk(first=start + 1, total=len(batches), batches=batches[start : start + size])
        for start in range(0, len(batches), size)
    ]


def _render(chunk: _Chunk, title: str, font: bytes, out: Path, stem: str) -> _Rendered:
    pages, svg_paths, cells = [], [], []
    for number, (grid, batch) in enumerate(chunk.batches, start=chunk.first):
        page = layout_page(grid, batch, title, number, chunk.total)
        path = out / f"{stem}-{number:03d}.svg"
        path.write_text(page_svg(page, title), encoding="utf-8")
        pages.append(page)
        svg_paths.append(str(path))
        cells.append(verify.expectations(page, batch))
    return _Rendered(pdf=pages_pdf(pages, title, font), svg_paths=svg_paths, cells=cells)


def _verify(
    pdf_path: Path, svg_paths: list[str], pages: list[tuple[int, tuple[Expected, ...]]]
) -> tuple[int, list[verify.Failure]]:
    failures = [failure for page in verify.check_pdf(pdf_path, pages) for failure in page]
    for number, cells in pages:
        failures += verify.check_svg(Path(svg_paths[number - 1]), number, cells)
    return len(pages), failures


def _merge_pdfs(parts: list[bytes], path: Path) -> None:
    if len(parts) == 1:  # nothing to merge: keep reportlab's bytes (reproducible, as written)
        path.write_bytes(parts[0])
        return
    merged = pdfium.PdfDocument.new()
    try:
        for part in parts:
            try:
                source = pdfium.PdfDocument(part)
            except pdfium.PdfiumError:
                continue  # its pages are missing from the file: verification reports their plates
            merged.import_pages(source)
            source.close()
        merged.save(path)
    finally:
        merged.close()


def _collect(futures: Iterator, pages_of, step: str, total: int, progress: Progress | None) -> list:
    """Results in submission order (so pages stay in order), reporting progress as they come."""
    submitted = list(futures)
    results, done = [], 0
    for future in submitted:
        result = future.result()
        results.append(result)
        done += pages_of(result)
        if progress:
            progress(step, done, total)
    return results


class _InProcess(Executor):
    """The executor interface without processes: small runs, and tests that patch the renderer."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # handed to the caller through result(), as a pool would
            future.set_exception(error)
        return future


@contextmanager
def _executor(pages: int, workers: int) -> Iterator[Executor]:
    if workers == 1 or pages < IN_PROCESS_BELOW:
        yield _InProcess()
        return
    # forkserver: the caller may hold threads (database drivers, event loops) that fork would copy.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool
