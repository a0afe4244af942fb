"""The simulator's executed-command file: kept across restarts, bounded by the freshness window."""

from __future__ import annotations

import time
from pathlib import Path

from device_bridge.executed import COMPACT_AFTER, ExecutedCommands

WINDOW = 30.0


def test_executed_ids_survive_a_restart_with_their_answers(tmp_path: Path):
    path = tmp_path / "devices" / "c1@door-1.executed"
    executed = ExecutedCommands(path, WINDOW)
    executed.record("open-1", time.time(), {"command": "open-1", "ok": True})
    executed.close()
    assert ExecutedCommands(path, WINDOW).answer("open-1") == {"command": "open-1", "ok": True}


def test_ids_older_than_the_window_are_forgotten_and_the_file_stays_small(tmp_path: Path):
    path = tmp_path / "c1@door-1.executed"
    executed = ExecutedCommands(path, WINDOW)
    stale = time.time() - WINDOW - 1  # a copy of this command would be refused as stale anyway
    for i in range(3 * COMPACT_AFTER):
        executed.record(f"old-{i}", stale, {"command": f"old-{i}", "ok": True})
    executed.record("recent", time.time(), {"command": "recent", "ok": True})
    executed.close()
    assert len(path.read_bytes().splitlines()) <= COMPACT_AFTER + 1
    restarted = ExecutedCommands(path, WINDOW)
    assert restarted.answer("old-0") is None and restarted.answer("recent") is not None
    assert len(path.read_bytes().splitlines()) == 1


def test_a_line_torn_by_a_crash_is_skipped(tmp_path: Path):
    path = tmp_path / "c1@door-1.executed"
    executed = ExecutedCommands(path, WINDOW)
    executed.record("open-1", time.time(), {"command": "open-1", "ok": True})
    executed.close()
    with path.open("ab") as file:
        file.write(b'["open-2", 17')
    assert ExecutedCommands(path, WINDOW).answer("open-1") is not None
