"""Signed checkpoints of the audit chains' heads, kept in a file outside the database.

A database writer can cut a chain's tail and leave a shorter chain that still verifies; the
checkpoints remember how long every chain was and what its head was, signed with a key derived
from the root secret, so a cut (or a forged checkpoint) shows at the next ``anju audit``.
One JSON line per checkpoint, each the heads of every chain at the time, appended only; several
processes may append (under ``flock``). Lines written before per-community chains (one global
chain: ``seq`` and ``head``) still verify, as checkpoints of the legacy chain.
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.audit.tables import DISTRICT_CHAIN, LEGACY_CHAIN

FILE_NAME = "checkpoints.jsonl"
_DOMAIN = "anju-audit-checkpoint"  # the one-chain lines
_DOMAIN_CHAINS = "anju-audit-checkpoint-chains"
_CHUNK = 4096


class Head(msgspec.Struct, frozen=True, array_like=True):
    seq: int  # entries in the chain when the checkpoint was taken
    hash: str  # hash of entry ``seq``


def chain_name(chain: int) -> str:
    if chain == DISTRICT_CHAIN:
        return "district chain"
    if chain == LEGACY_CHAIN:
        return "legacy chain"
    return f"community {chain} chain"


class Checkpoint(msgspec.Struct, frozen=True):
    heads: dict[int, Head]  # chain -> its head
    at: str
    sig: str = ""

    def payload(self) -> bytes:
        return msgspec.json.encode([_DOMAIN_CHAINS, sorted(self.heads.items()), self.at])

    def label(self) -> str:
        entries = sum(head.seq for head in self.heads.values())
        return f"{entries} entries in {len(self.heads)} chain(s), taken {self.at}"

    def label_of(self, chain: int) -> str:
        head = self.heads[chain]
        return f"{chain_name(chain)} entry {head.seq}, head {head.hash[:12]}…, taken {self.at}"


class _OneChainCheckpoint(msgspec.Struct, frozen=True):
    """A line from before per-community chains: the global chain, now the legacy chain."""

    seq: int
    head: str
    at: str
    sig: str = ""

    def payload(self) -> bytes:
        return msgspec.json.encode([_DOMAIN, self.seq, self.head, self.at])

    def as_checkpoint(self) -> Checkpoint:
        return Checkpoint(heads={LEGACY_CHAIN: Head(self.seq, self.head)}, at=self.at, sig=self.sig)


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
            signed = _decode(line)
            public.verify(bytes.fromhex(signed.sig), signed.payload())
        except (msgspec.DecodeError, ValueError, InvalidSignature):
            unsigned.append(number)
        else:
            valid.append(signed if isinstance(signed, Checkpoint) else signed.as_checkpoint())
    return CheckpointLog(valid=valid, unsigned_lines=unsigned)


def _decode(line: bytes) -> Checkpoint | _OneChainCheckpoint:
    try:
        return msgspec.json.decode(line, type=Checkpoint)
    except msgspec.DecodeError:
        return msgspec.json.decode(line, type=_OneChainCheckpoint)


class GoingBackwards(Exception):
    """A head is behind (or differs from) the last checkpoint: never write that down as good."""


def append(directory: Path, key: Ed25519PrivateKey, heads: dict[int, Head]) -> Checkpoint | None:
    """Sign and append a checkpoint unless the last one already says the same; None if skipped.

    Blocking file I/O (run it in a thread); the ``flock`` makes check-then-append atomic across
    the app's processes, so they never write the same heads twice.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path_in(directory), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+b") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        last = _last(file)
        if last is not None and last.heads == heads:
            return None
        if last is not None:
            _refuse_going_backwards(last, heads)
        unsigned = Checkpoint(heads=heads, at=datetime.now(UTC).isoformat(timespec="seconds"))
        checkpoint = msgspec.structs.replace(unsigned, sig=key.sign(unsigned.payload()).hex())
        file.write(msgspec.json.encode(checkpoint) + b"\n")
        return checkpoint


def _refuse_going_backwards(last: Checkpoint, heads: dict[int, Head]) -> None:
    for chain, was in last.heads.items():
        if was.seq == 0:
            continue  # an empty chain (as checkpointed before chains): nothing to go back from
        now = heads.get(chain, Head(0, ""))
        if now.seq < was.seq or (now.seq == was.seq and now.hash != was.hash):
            raise GoingBackwards(
                f"{chain_name(chain)} head is entry {now.seq}, the last checkpoint says {last.label_of(chain)}"
            )


def _last(file) -> Checkpoint | None:
    """The file's last checkpoint as written (signatures are ``read``'s business)."""
    line = _last_line(file)
    try:
        signed = _decode(line) if line else None
    except msgspec.DecodeError:
        return None
    return signed.as_checkpoint() if isinstance(signed, _OneChainCheckpoint) else signed


def _last_line(file) -> bytes:
    """Read backwards from the end until a whole last line is in hand (a line holds every chain)."""
    position, tail = file.seek(0, os.SEEK_END), b""
    while position > 0:
        step = min(_CHUNK, position)
        position -= step
        file.seek(position)
        tail = file.read(step) + tail
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1:
            return lines[-1]
    return tail.rstrip(b"\n")
