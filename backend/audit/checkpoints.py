"""Signed checkpoints of the audit chain's head, kept in a file outside the database.

A database writer can cut the chain's tail and leave a shorter chain that still verifies; the
checkpoints remember how long the chain was and what its head was, signed with a key derived
from the root secret, so a cut (or a forged checkpoint) shows at the next ``anju audit``.
One JSON line per checkpoint, appended only; several processes may append (under ``flock``).
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

FILE_NAME = "checkpoints.jsonl"
_DOMAIN = "anju-audit-checkpoint"
_TAIL_BYTES = 4096  # far more than one line: enough to find the last checkpoint


class Checkpoint(msgspec.Struct, frozen=True):
    seq: int  # entries in the chain when it was taken
    head: str  # hash of entry ``seq``
    at: str
    sig: str = ""

    def payload(self) -> bytes:
        return msgspec.json.encode([_DOMAIN, self.seq, self.head, self.at])

    def label(self) -> str:
        return f"entry {self.seq}, head {self.head[:12]}…, taken {self.at}"


class CheckpointLog(msgspec.Struct, frozen=True):
    valid: list[Checkpoint]
    unsigned_lines: list[int]  # 1-based line numbers that fail to parse or verify


def path_in(directory: Path) -> Path:
    return directory / FILE_NAME


def read(directory: Path, key: Ed25519PrivateKey) -> CheckpointLog:
    """Every checkpoint line, sorted into those whose signature verifies and those that don't."""
    path = path_in(directory)
    if not path.exists():
        return CheckpointLog(valid=[], unsigned_lines=[])
    public = key.public_key()
    valid, unsigned = [], []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            checkpoint = msgspec.json.decode(line, type=Checkpoint)
            public.verify(bytes.fromhex(checkpoint.sig), checkpoint.payload())
        except (msgspec.DecodeError, ValueError, InvalidSignature):
            unsigned.append(number)
        else:
            valid.append(checkpoint)
    return CheckpointLog(valid=valid, unsigned_lines=unsigned)


class GoingBackwards(Exception):
    """The head is behind (or differs from) the last checkpoint: never write that down as good."""


def append(directory: Path, key: Ed25519PrivateKey, seq: int, head: str) -> Checkpoint | None:
    """Sign and append a checkpoint unless the last one already says the same; None if skipped.

    Blocking file I/O (run it in a thread); the ``flock`` makes check-then-append atomic across
    the app's processes, so they never write the same head twice.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path_in(directory), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+b") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        last = _last(file)
        if last is not None and (last.seq, last.head) == (seq, head):
            return None
        if last is not None and last.seq >= seq:
            raise GoingBackwards(f"chain head is entry {seq}, the last checkpoint says {last.label()}")
        unsigned = Checkpoint(seq=seq, head=head, at=datetime.now(UTC).isoformat(timespec="seconds"))
        checkpoint = msgspec.structs.replace(unsigned, sig=key.sign(unsigned.payload()).hex())
        file.write(msgspec.json.encode(checkpoint) + b"\n")
        return checkpoint


def _last(file) -> Checkpoint | None:
    """The file's last checkpoint as written (signatures are ``read``'s business)."""
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - _TAIL_BYTES))
    lines = file.read().splitlines()
    try:
        return msgspec.json.decode(lines[-1], type=Checkpoint) if lines else None
    except msgspec.DecodeError:
        return None
