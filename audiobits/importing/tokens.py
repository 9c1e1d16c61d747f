"""`ImportedTokens`: a representation whose "encoder" looks each utterance's precomputed codes up by key.

It runs through the same sharded encode job, drop log and bin writer as every codec (`audiobits.prepare.prepare`), so
imported bins hold exactly the utterances of the corpus's other representations, in the same order, byte for byte
as `prepare` would write them. A corpus utterance the source has no tokens for (or whose frames do not fit its
duration) is dropped from every representation with the reason; source keys the corpus lacks are reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import numpy as np

from audiobits.errors import ConfigValueError
from audiobits.importing.layout import TokenLayout
from audiobits.importing.sources import TokenSource
from audiobits.representations.base import Representation, Utterance, UtteranceError
from audiobits.representations.neucodec import PRECOMPUTED

log = logging.getLogger(__name__)


class ImportedTokens(Representation):
    """Precomputed tokens of ``source`` laid out as ``layout``, under the bin directory ``name``."""

    weights = PRECOMPUTED
    sample_rate = None  # reads no audio: the corpus gives ids, transcripts and true durations

    def __init__(self, name: str, source: TokenSource, layout: TokenLayout,
                 max_frame_mismatch: float | None = 2.0) -> None:
        """
        Args:
            name: the bin directory (and the representation's name in reports), e.g. ``mycodec_step40k``.
            source: where the tokens are (`DatasetTokens` or `NpyFolderTokens`).
            layout: the codebooks (size, frame rate per level) and how codes are stored.
            max_frame_mismatch: most frames an utterance's codes may differ from its duration × frame rate
                (codecs pad or trim a frame or two); a larger gap means the codes belong to another utterance and
                it is dropped with that reason. None: no check (and always for a variable-rate stream).
        """
        self.name, self.source, self.layout, self.max_frame_mismatch = name, source, layout, max_frame_mismatch
        self.codebooks = list(layout.codebooks)
        self.eos_id = layout.eos_id
        self.vocab_size = self.eos_id + 1
        self.flattening = layout.flattening
        self.tokens_per_frame = len(layout.codebooks)

    def encoder_info(self) -> dict:
        return {"name": f"imported {self.name}", "package": None, "version": None, "weights": PRECOMPUTED,
                "source": json.loads(json.dumps(self.source.describe())), "stored": self.layout.stored}

    def check_ids(self) -> int:
        """Check every id of every source row against its level's size before anything is written (an error
        names the utterance, level and id); returns how many rows were checked."""
        count = 0
        for row in self.source.rows():
            self.layout.levels(row.codes, row.key)
            count += 1
        return count

    def _codes(self, utterance: Utterance) -> np.ndarray:
        """The utterance's codes as levels × frames; UtteranceError when the source has none or they do not fit."""
        if utterance.id not in self.source:
            raise UtteranceError(utterance.id, f"no imported tokens for this key in {self.source.label}")
        try:
            levels = self.layout.levels(self.source.row(utterance.id).codes, utterance.id)
        except ConfigValueError as e:
            raise UtteranceError(utterance.id, str(e)) from e
        rate = self.layout.frame_rate
        if rate and self.max_frame_mismatch is not None:
            expected = utterance.duration * rate
            if abs(levels.shape[1] - expected) > self.max_frame_mismatch:
                raise UtteranceError(utterance.id, f"{levels.shape[1]} frames of imported tokens for "
                                                   f"{utterance.duration:.3f} s, expected ~{expected:.0f} at {rate:g} "
                                                   "frames/s: tokens of another utterance, or the wrong frame rate")
        return levels

    def check(self, utterance: Utterance) -> None:
        self._codes(utterance)

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        return [self.layout.flatten(list(self._codes(u))) for u in batch]

    def note_unmatched(self, corpus_name: str, held: Iterable[str]) -> list[str]:
        """Log (and return) the source keys the corpus's bins do not hold: they have no utterance to belong to."""
        held = set(held)
        unmatched = [key for key in self.source.keys() if key not in held]
        if unmatched:
            log.warning("%s: %d of its keys are not utterances of corpus %s (or were dropped there), so their "
                        "tokens are left out (e.g. %s)", self.source.label, len(unmatched), corpus_name,
                        unmatched[:3])
        return unmatched
