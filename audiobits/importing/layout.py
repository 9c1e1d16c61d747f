"""How precomputed tokens are laid out: the codebooks they come from and how they are stored per utterance.

A `TokenLayout` turns one utterance's stored codes (as a `datasets` column, a parquet cell or a ``.npy`` file holds
them) into the flat id stream audiobits trains on, checking every id against its level's size first. Levels at one
frame rate are flattened frame-major with per-level id offsets, exactly as `prepare` flattens Mimi, EnCodec or
Codec 2 (`FrameMajorLevels`), so imported bins equal the bins `prepare` writes for the same codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audiobits.bins import Codebook
from audiobits.errors import ConfigValueError
from audiobits.representations.codec import FrameMajorLevels

STORED = ("levels_frames", "frames_levels", "interleaved")


@dataclass
class TokenLayout(FrameMajorLevels):
    """The codebooks (size and frame rate per level, in stored order) and how an utterance's codes are stored:
    ``levels_frames`` (a levels × frames array, or one 1-D array per level; a single level may be 1-D),
    ``frames_levels`` (frames × levels) or ``interleaved`` (1-D, frame by frame: level 0, level 1, ..., raw codes
    without offsets). One codebook with ``frame_rate: null`` is a variable-rate stream (durations then come from
    the corpus)."""

    codebooks: list[Codebook] = field(default_factory=list)
    stored: str = "levels_frames"

    def __post_init__(self) -> None:
        self.codebooks = [c if isinstance(c, Codebook) else Codebook(**c) for c in self.codebooks]
        if not self.codebooks or any(int(c.size) < 1 for c in self.codebooks):
            raise ConfigValueError(f"layout.codebooks must list at least one level with size >= 1, got "
                                   f"{self.codebooks}; e.g. [{{size: 2048, frame_rate: 12.5}}] per codebook")
        if self.stored not in STORED:
            raise ConfigValueError(f"layout.stored must be one of {list(STORED)}, got {self.stored!r}")
        rates = {c.frame_rate for c in self.codebooks}
        if len(rates) > 1 or (None in rates and len(self.codebooks) > 1):
            raise ConfigValueError(f"layout.codebooks have frame rates {sorted(rates, key=str)}: audiobits flattens "
                                   "several levels frame by frame, so they need one frame rate; import a stream "
                                   "with levels at different rates (SNAC) already flattened, as one level")

    @property
    def name(self) -> str:
        """What `FrameMajorLevels`' messages call these tokens."""
        return "imported tokens"

    @property
    def frame_rate(self) -> float | None:
        """Frames per second of every level (None: a variable-rate stream)."""
        return self.codebooks[0].frame_rate

    @property
    def flattening(self) -> str:
        """meta.json's name for how the levels became one stream."""
        return "none" if len(self.codebooks) == 1 else "frame_major_level_offsets"

    @property
    def eos_id(self) -> int:
        """The end-of-utterance id: one past the last level's range."""
        return int(sum(c.size for c in self.codebooks))

    def levels(self, codes: np.ndarray | list, key: str) -> np.ndarray:
        """One utterance's stored codes as an int64 levels × frames array, each id checked against its level's
        size; a code that does not fit names the utterance, level and id (`ConfigValueError`)."""
        array = np.asarray(codes)
        k = len(self.codebooks)
        if array.dtype == object or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
            raise ConfigValueError(f"utterance {key!r}: codes are {array.dtype}, not integers; point the codes "
                                   "column (or .npy array) at the token ids")
        if self.stored == "interleaved" or (array.ndim == 1 and k == 1):
            if array.ndim != 1 or array.size % k:
                raise ConfigValueError(f"utterance {key!r}: {array.shape} codes are not whole frames of {k} "
                                       f"interleaved levels; check layout.stored and layout.codebooks")
            array = array.reshape(-1, k).T
        elif self.stored == "frames_levels":
            array = array.T
        if array.ndim != 2 or array.shape[0] != k:
            raise ConfigValueError(f"utterance {key!r}: codes of shape {np.asarray(codes).shape} do not hold "
                                   f"{k} level(s) as layout.stored={self.stored!r} says; fix layout.stored or "
                                   "layout.codebooks")
        array = array.astype(np.int64, copy=False)
        for level, book in enumerate(self.codebooks):
            bad = (array[level] < 0) | (array[level] >= book.size)
            if bad.any():
                raise ConfigValueError(f"utterance {key!r}, level {level}: id {int(array[level][bad][0])} is "
                                       f"outside [0, {book.size}) (layout.codebooks[{level}].size); declare the "
                                       "codebook sizes the tokens were made with, in stored order")
        return array

    def flat_ids(self, codes: np.ndarray | list, key: str) -> np.ndarray:
        """The flat id stream of one utterance (frame-major, level k offset by the sizes before it), without EOS."""
        return self.flatten(list(self.levels(codes, key)))

    def frames(self, codes: np.ndarray | list, key: str) -> int:
        """Frames (per level) of one utterance's codes."""
        return int(self.levels(codes, key).shape[1])
