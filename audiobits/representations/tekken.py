"""``tekken``: Mistral's Tekken BPE of the transcript, a multilingual byte-level BPE beside GPT-2's English one.

Tekken (tiktoken-style, 131 072 ids of which the first 1 000 are control tokens) was trained on text in many
languages, so it spends far fewer tokens than GPT-2's BPE on non-English scripts. Its vocabulary file
(``tekken_240911.json``) ships inside the ``mistral-common`` wheel: it loads offline. The control ids are never
emitted for a transcript, so ids here are Tekken's minus 1 000 (content vocab 130 072) and the id after them ends
an utterance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiobits.bins import Codebook
from audiobits.errors import AudiobitsError
from audiobits.representations.base import Representation, Utterance, UtteranceError, check_transcript

VOCAB_FILE = "tekken_240911.json"


class TekkenRepresentation(Representation):
    """Tekken BPE ids of each transcript (control ids left out); one stream, variable rate."""

    name = "tekken"
    flattening = "bpe"
    package = "mistral-common"

    def __init__(self, vocab_file: str | None = None) -> None:
        """``vocab_file``: a Tekken JSON vocabulary (default: mistral-common's ``tekken_240911.json``)."""
        try:
            import mistral_common
            from mistral_common.tokens.tokenizers.tekken import Tekkenizer
        except ImportError as e:
            raise AudiobitsError("the tekken representation needs mistral-common: pip install "
                                 "'audiobits[multilingual]'") from e
        path = Path(vocab_file) if vocab_file else Path(mistral_common.__file__).parent / "data" / VOCAB_FILE
        self.tokenizer = Tekkenizer.from_file(path)
        self.offset = self.tokenizer.num_special_tokens
        content = self.tokenizer.n_words - self.offset
        self.weights = path.name
        self.vocab_size, self.eos_id = content + 1, content
        self.codebooks = [Codebook(content, None)]

    def encoder_info(self) -> dict:
        return {"name": f"tekken ({self.weights}, control ids removed)", "package": self.package,
                "version": self._package_version(), "weights": self.weights}

    def check(self, utterance: Utterance) -> None:
        check_transcript(utterance, "tekken tokens are made from it")

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        out = []
        for utterance in batch:
            self.check(utterance)
            ids = np.asarray(self.tokenizer.encode(utterance.text, bos=False, eos=False), dtype=np.int64)
            if (ids < self.offset).any():
                raise UtteranceError(utterance.id, "Tekken gave a control token for the transcript")
            out.append(ids - self.offset)
        return out
