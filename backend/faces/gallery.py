"""A community's gallery for 1:N matching: unit embeddings in one contiguous float32 matrix.

A search is one matrix-vector product and an argmax (numpy, BLAS): at 128 dimensions 0.03 ms for
10 000 faces and about 1 ms for 100 000 on this machine (bench/face.py), far inside a gate's
budget, so an approximate index would only add error. Adding appends (the matrix grows by doubling);
removing moves the last row into the hole, so both stay O(1) and the matrix never has gaps.
"""

from __future__ import annotations

import msgspec
import numpy as np


class Match(msgspec.Struct, frozen=True):
    key: int  # the enrolment's id
    score: float  # cosine similarity


class Gallery:
    def __init__(self, dimensions: int) -> None:
        self._vectors = np.zeros((16, dimensions), dtype=np.float32)
        self._keys: list[int] = []
        self._rows: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: int) -> bool:
        return key in self._rows

    def add(self, key: int, embedding: np.ndarray) -> None:
        """Enrol ``key``, or replace its embedding."""
        row = self._rows.get(key)
        if row is None:
            row = len(self._keys)
            if row == len(self._vectors):
                self._vectors = np.concatenate([self._vectors, np.zeros_like(self._vectors)])
            self._keys.append(key)
            self._rows[key] = row
        self._vectors[row] = embedding

    def remove(self, key: int) -> None:
        row = self._rows.pop(key, None)
        if row is None:
            return
        last = len(self._keys) - 1
        if row != last:
            moved = self._keys[last]
            self._vectors[row] = self._vectors[last]
            self._keys[row] = moved
            self._rows[moved] = row
        self._keys.pop()
        self._vectors[last] = 0.0  # a deleted face leaves nothing behind in memory

    def best(self, embedding: np.ndarray) -> Match | None:
        """The closest enrolment, whatever its score (the caller applies the threshold)."""
        if not self._keys:
            return None
        scores = self._vectors[: len(self._keys)] @ embedding
        row = int(np.argmax(scores))
        return Match(self._keys[row], float(scores[row]))
