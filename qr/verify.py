"""Check, before printing, that every doorplate's code reads back as exactly its URL."""

import math
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial

import msgspec

from qr import decode, render
from qr.sheets import Plate

PRINT_SCALE = 4  # px per module: a clean render zbar reads without fail
# Below this many plates, starting worker processes costs more than it saves.
IN_PROCESS_BELOW = 50
# Several chunks per worker balance the load and keep progress reports coming.
CHUNKS_PER_WORKER = 4

Mapper = Callable[[Callable[[str], bool], list[str]], Iterator[bool]]


class VerifyReport(msgspec.Struct, frozen=True):
    total: int
    verified: int
    # urls whose code did not read back as exactly that url, in input order
    failed: list[str]

    @property
    def coverage(self) -> float:
        return self.verified / self.total if self.total else 1.0


def verify_plates(
    plates: Iterable[Plate],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    urls = [plate.url for plate in plates]
    failed = []
    with _mapper(len(urls), workers or os.cpu_count() or 1) as map_each:
        for done, (url, readable) in enumerate(zip(urls, map_each(reads_back, urls), strict=True), start=1):
            if not readable:
                failed.append(url)
            if progress:
                progress(done, len(urls))
    return VerifyReport(total=len(urls), verified=len(urls) - len(failed), failed=failed)


def reads_back(url: str) -> bool:
    return decode.decode_image(render.png(url, scale=PRINT_SCALE)) == [url]


@contextmanager
def _mapper(count: int, workers: int) -> Iterator[Mapper]:
    if workers == 1 or count < IN_PROCESS_BELOW:
        yield map
        return
    chunk_size = math.ceil(count / (workers * CHUNKS_PER_WORKER))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # pool.map yields in input order, so failures keep the plates' order.
        yield partial(pool.map, chunksize=chunk_size)
