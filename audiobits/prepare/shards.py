"""Shards: the unit of resumable encoding. `Shard` says which utterances; `ShardRecord` is what encoding them gave,
saved as ``<corpus>/<representation>.shards/<split>-<k>.npz`` (atomically) and loaded back by the merge."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from audiobits.files import write_atomic
from audiobits.representations.base import Utterance


@dataclass(frozen=True)
class Shard:
    """Utterances ``start:stop`` of one split; shard ``index`` of that split."""

    split: str
    index: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:06d}"


@dataclass
class ShardRecord:
    """The encoded shard: rows ``start:stop``, the kept utterances' tokens (concatenated, no EOS) with their lengths,
    ids, true seconds and transcript bytes in corpus order, and each failed utterance's id with its reason."""

    start: int
    stop: int
    tokens: np.ndarray
    lengths: np.ndarray
    ids: list[str]
    seconds: np.ndarray
    text_bytes: np.ndarray
    failed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_encoded(cls, shard: Shard, kept: list[Utterance], tokens: list[np.ndarray], dtype: np.dtype,
                     failed: dict[str, str]) -> ShardRecord:
        """The record of ``shard`` whose utterances ``kept`` gave ``tokens`` (stored as ``dtype``) and the rest
        ``failed``."""
        return cls(start=shard.start, stop=shard.stop,
                   tokens=np.concatenate(tokens or [np.zeros(0, np.int64)]).astype(dtype, copy=False),
                   lengths=np.asarray([len(t) for t in tokens], np.int64), ids=[u.id for u in kept],
                   seconds=np.asarray([u.duration for u in kept], np.float64),
                   text_bytes=np.asarray([u.text_bytes for u in kept], np.int64), failed=dict(failed))

    def save(self, path: str | os.PathLike) -> None:
        """Write the record as one .npz, atomically (a crash leaves no shard that looks finished)."""
        arrays = {"start": self.start, "stop": self.stop, "tokens": self.tokens, "lengths": self.lengths,
                  "ids": np.asarray(self.ids, dtype=str), "seconds": self.seconds, "text_bytes": self.text_bytes,
                  "failed_ids": np.asarray(list(self.failed), dtype=str),
                  "failed_reasons": np.asarray(list(self.failed.values()), dtype=str)}
        write_atomic(path, lambda f: np.savez(f, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> ShardRecord:
        with np.load(path) as data:
            return cls(start=int(data["start"]), stop=int(data["stop"]), tokens=data["tokens"],
                       lengths=data["lengths"], ids=[str(i) for i in data["ids"]], seconds=data["seconds"],
                       text_bytes=data["text_bytes"],
                       failed={str(i): str(r) for i, r in zip(data["failed_ids"], data["failed_reasons"])})

    def utterances(self) -> Iterator[tuple[str, np.ndarray, float, int]]:
        """(id, tokens, seconds, text_bytes) of every kept utterance, in corpus order."""
        ends = np.cumsum(self.lengths)
        for i, uid in enumerate(self.ids):
            yield uid, self.tokens[ends[i] - self.lengths[i]:ends[i]], float(self.seconds[i]), int(self.text_bytes[i])
