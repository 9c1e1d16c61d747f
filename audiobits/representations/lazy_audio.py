"""`LazyAudio`: a recording read block by block (soundfile), so a long one is never whole in memory.

A corpus hands it to the encoder in place of decoded samples when the representation reads blocks
(``Representation.reads_blocks``); pickling it carries only the path (or the file's bytes) and its header.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soundfile as sf

BLOCK_FRAMES = 1 << 18  # frames read per block (~11 s at 24 kHz): the unit of memory of a streaming encode


@dataclass(frozen=True)
class LazyAudio:
    """A recording (a path, or the encoded file's bytes) of ``frames`` frames at ``sample_rate`` Hz, read on demand
    as float32 mono (channels averaged, as `audiobits.corpora.read_audio` does)."""

    source: str | bytes
    sample_rate: int
    frames: int
    label: str  # names the file in error messages

    @classmethod
    def open(cls, source: str | os.PathLike | bytes, label: str) -> LazyAudio:
        """Read only the header of ``source``; soundfile's errors propagate (the corpus turns them into a reason)."""
        info = sf.info(io.BytesIO(source) if isinstance(source, bytes) else source)
        return cls(source if isinstance(source, bytes) else str(source), int(info.samplerate), int(info.frames), label)

    def blocks(self, frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """The recording as consecutive float32 mono blocks of ``frames`` samples (the last one shorter)."""
        handle = io.BytesIO(self.source) if isinstance(self.source, bytes) else self.source
        read = 0
        for block in sf.blocks(handle, blocksize=frames, dtype="float32", always_2d=True):
            read += len(block)
            yield block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
        if read != self.frames:
            raise OSError(f"{self.label}: read {read} frames, but its header promised {self.frames} (a truncated or "
                          "changed file)")
