"""Refused messages, logged in summaries: a flood of forgeries must not become a flood of log lines."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter


class RefusalLog:
    """Counts refusals by reason and logs at most one WARNING per ``every`` seconds.

    The first refusal after a quiet spell is logged at once; later ones are summed into a line
    written when the interval is over (or at :meth:`flush`), with one example kept for the reader.
    The record carries the counts as ``record.refused`` ({reason: count}) for log shippers.
    """

    def __init__(self, logger: logging.Logger, source: str, every: float = 10.0) -> None:
        self._logger, self._source, self._every = logger, source, every
        self._counts: Counter[str] = Counter()
        self._example = ""
        self._last_line = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def note(self, reason: str, where: str, detail: str) -> None:
        """Count one refusal; ``where`` is the topic (or vendor device) it came from."""
        self._counts[reason] += 1
        if not self._example:
            self._example = f"{reason} on {where[:120]}: {detail[:200]}"
        if self._timer is not None:
            return
        wait = self._last_line + self._every - time.monotonic()
        if wait <= 0:
            self.flush()
        else:
            self._timer = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        """Log what was refused since the last line, if anything (also when stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._counts:
            return
        summary = ", ".join(f"{reason} {count}" for reason, count in self._counts.most_common())
        self._logger.warning(
            "%s refused %d message(s): %s; e.g. %s",
            self._source,
            self._counts.total(),
            summary,
            self._example,
            extra={"refused": dict(self._counts)},
        )
        self._counts.clear()
        self._example = ""
        self._last_line = time.monotonic()
