"""The commands a device executed, kept on disk so that no restart lets a replayed one run twice.

Only commands inside the freshness window need remembering: a copy of an older one is refused as
stale before its id is looked up, since its ``ts`` is signed and cannot be moved. So an entry is
forgotten once its command's own ``ts`` is more than the window in the past, and the file holds
at most one window's worth of commands (this assumes the device's clock never steps back by
more than the window, which the same freshness check needs anyway).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

COMPACT_AFTER = 64  # lines appended beyond the entries kept at the last rewrite that trigger the next one


class Entry(msgspec.Struct, array_like=True):
    id: str
    ts: float  # the command's signed ts, as a Unix time
    ack: dict[str, Any]  # the answer it got, repeated to a retry of the same id


class ExecutedCommands:
    """An append-only file of entries, compacted now and then; read back whole at start."""

    def __init__(self, path: Path, window: float) -> None:
        self._path, self._window = path, window
        self._entries: dict[str, Entry] = {}
        self._file: BinaryIO | None = None
        self._appended = self._kept = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._entries = {entry.id: entry for entry in entries(path)}
        self._compact()

    def answer(self, command_id: str) -> dict[str, Any] | None:
        """The ack a command of this id got, if it was executed within the window."""
        entry = self._entries.get(command_id)
        return entry.ack if entry is not None else None

    def record(self, command_id: str, ts: float, ack: dict[str, Any]) -> None:
        """Keep ``command_id`` on disk (flushed and synced): call it before acting on the command."""
        entry = Entry(command_id, ts, ack)
        self._entries[command_id] = entry
        assert self._file is not None, "closed"
        self._file.write(msgspec.json.encode(entry) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._appended += 1
        if self._appended > self._kept + COMPACT_AFTER:
            self._compact()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _compact(self) -> None:
        """Drop entries past the window; rewrite the file atomically with the rest."""
        oldest = time.time() - self._window
        self._entries = {key: entry for key, entry in self._entries.items() if entry.ts >= oldest}
        self.close()
        fresh = self._path.with_suffix(".tmp")
        with fresh.open("wb") as out:
            out.writelines(msgspec.json.encode(entry) + b"\n" for entry in self._entries.values())
            out.flush()
            os.fsync(out.fileno())
        fresh.replace(self._path)
        self._file = self._path.open("ab")
        self._appended, self._kept = 0, len(self._entries)


def entries(path: Path) -> Iterator[Entry]:
    """A file's entries as written, in order."""
    for line in path.read_bytes().splitlines():
        try:
            yield msgspec.json.decode(line, type=Entry)
        except msgspec.DecodeError:
            continue  # a line torn by a crash: written before acting, so nothing ran for it


def executed_in(folder: Path) -> Iterator[Entry]:
    """Every entry of every device keeping its file in ``folder`` (the simulator's state_dir)."""
    for path in sorted(folder.glob("*.executed")):
        yield from entries(path)
