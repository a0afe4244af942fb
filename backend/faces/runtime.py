"""This process's face engine: loaded on first use, one model run at a time, off the event loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from backend.faces import pack
from backend.faces.engine import Engine
from backend.settings import Settings

T = TypeVar("T")


class Faces:
    def __init__(self, settings: Settings) -> None:
        self._directory = settings.face_pack_dir
        self._default = not settings.face_pack  # the default pack may be built here, offline
        self._engine: Engine | None = None
        self._lock = threading.Lock()  # an engine serves one thread at a time

    async def run(self, work: Callable[[Engine], T]) -> T:
        """``work(engine)`` in a worker thread."""
        return await anyio.to_thread.run_sync(self._locked, work)

    def _locked(self, work: Callable[[Engine], T]) -> T:
        with self._lock:
            if self._engine is None:
                if self._default:
                    pack.build_default(self._directory)
                self._engine = Engine(self._directory)
            return work(self._engine)
