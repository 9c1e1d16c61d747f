"""``phonemes``: espeak-ng's phonemes of the transcript, a small symbolic stream between text and audio.

Tokens are espeak's ASCII phoneme names for the utterance's text (stress marks, pauses and word breaks are tokens
too, see :class:`audiobits.representations.espeak.Espeak`). With one ``voice`` every transcript is read by that voice;
with ``languages`` each utterance is read by the voice of its own language
(:func:`audiobits.representations.espeak.voice_for`), and the vocabulary is the union of those voices' inventories, so a
phoneme name two languages share has one id. The vocabulary is read from espeak's own tables, so ids are the same for
every corpus; meta.json's encoder record lists it (id = position).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata

import numpy as np

from audiobits.bins import Codebook
from audiobits.errors import AudiobitsError
from audiobits.representations.espeak import Espeak, EspeakError, voice_for
from audiobits.representations.base import Representation, Utterance, UtteranceError


class PhonemeRepresentation(Representation):
    """espeak-ng phoneme names of the transcript as tokens; the id after the inventory ends an utterance."""

    name = "phonemes"
    flattening = "none"
    tokens_per_frame = 1
    sample_rate = None
    package = "espeakng-loader"

    def __init__(self, voice: str = "en-us", languages: Sequence[str] | None = None) -> None:
        """
        Args:
            voice: the espeak-ng voice that reads every transcript (when ``languages`` is not given).
            languages: language codes (``en``, ``fr``, ``pt-br``): each utterance is read in its own language's
                voice; an utterance of another language, or of none, is dropped with the reason.
        """
        try:
            self.voices = ({language: Espeak(voice_for(language)) for language in languages} if languages
                           else {None: Espeak(voice)})
        except EspeakError as e:
            raise AudiobitsError(f"phonemes: {e}") from e
        names = {name for espeak in self.voices.values() for name in espeak.inventory()}
        self.inventory = sorted(names)
        self._ids = {name: i for i, name in enumerate(self.inventory)}
        spoken = ", ".join(e.voice if lang is None else f"{lang}: {e.voice}" for lang, e in self.voices.items())
        self.weights = f"espeak-ng rules ({spoken})"
        self.vocab_size = len(self.inventory) + 1
        self.eos_id = len(self.inventory)
        self.codebooks = [Codebook(size=len(self.inventory), frame_rate=None)]

    def encoder_info(self) -> dict:
        spoken = ", ".join(e.voice for e in self.voices.values())
        return {"name": f"espeak-ng phonemes ({spoken})", "package": self.package,
                "version": metadata.version(self.package), "weights": self.weights, "inventory": self.inventory}

    def voice_of(self, utterance: Utterance) -> Espeak:
        """The voice that reads ``utterance``: the one voice, or its language's (UtteranceError when not listed)."""
        if None in self.voices:
            return self.voices[None]
        if utterance.language not in self.voices:
            raise UtteranceError(utterance.id, f"its language is {utterance.language!r}, not one of the phoneme "
                                               f"languages {sorted(self.voices)}; add it to languages")
        return self.voices[utterance.language]

    def check(self, utterance: Utterance) -> None:
        if not utterance.text.strip():
            raise UtteranceError(utterance.id, "phonemes are made from the transcript, which is empty")
        self.voice_of(utterance)

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        out = []
        for utterance in batch:
            self.check(utterance)
            espeak = self.voice_of(utterance)
            names = espeak.phonemes(utterance.text)
            unknown = sorted({n for n in names if n not in self._ids})
            if unknown or not names:
                raise UtteranceError(utterance.id, f"espeak-ng gave phonemes {unknown} outside the {espeak.voice}"
                                     " inventory (a language switch?)" if unknown else "espeak-ng gave no phonemes")
            out.append(np.fromiter((self._ids[n] for n in names), dtype=np.int64, count=len(names)))
        return out
