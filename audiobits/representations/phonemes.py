"""``phonemes``: espeak-ng's phonemes of the transcript, a small symbolic stream between text and audio.

Tokens are espeak's ASCII phoneme names for the utterance's text (stress marks, pauses and word breaks are tokens
too, see :class:`audiobits.espeak.Espeak`). The vocabulary is the voice's whole phoneme inventory read from
espeak's own tables, so ids are the same for every corpus; meta.json's encoder record lists it (id = position).
"""

from __future__ import annotations

from importlib import metadata

import numpy as np

from audiobits.bins import Codebook
from audiobits.representations.base import Representation, Utterance, UtteranceError
from audiobits.espeak import Espeak


class PhonemeRepresentation(Representation):
    """espeak-ng phoneme names of the transcript as tokens; the id after the inventory ends an utterance."""

    name = "phonemes"
    flattening = "none"
    tokens_per_frame = 1
    sample_rate = None
    package = "espeakng-loader"

    def __init__(self, voice: str = "en-us") -> None:
        self.espeak = Espeak(voice)
        self.inventory = self.espeak.inventory()
        self._ids = {name: i for i, name in enumerate(self.inventory)}
        self.weights = f"espeak-ng rules ({voice})"
        self.vocab_size = len(self.inventory) + 1
        self.eos_id = len(self.inventory)
        self.codebooks = [Codebook(size=len(self.inventory), frame_rate=None)]

    def encoder_info(self) -> dict:
        return {"name": f"espeak-ng phonemes ({self.espeak.voice})", "package": self.package,
                "version": metadata.version(self.package), "weights": self.weights, "inventory": self.inventory}

    def check(self, utterance: Utterance) -> None:
        if not utterance.text.strip():
            raise UtteranceError(utterance.id, "phonemes are made from the transcript, which is empty")

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        out = []
        for utterance in batch:
            self.check(utterance)
            names = self.espeak.phonemes(utterance.text)
            unknown = sorted({n for n in names if n not in self._ids})
            if unknown or not names:
                raise UtteranceError(utterance.id, f"espeak-ng gave phonemes {unknown} outside the {self.espeak.voice}"
                                     " inventory (a language switch?)" if unknown else "espeak-ng gave no phonemes")
            out.append(np.fromiter((self._ids[n] for n in names), dtype=np.int64, count=len(names)))
        return out
