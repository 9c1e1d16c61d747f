"""``utf8``: the transcript's UTF-8 bytes as tokens (vocab 256 + EOS), a text stream with no language's bias.

A BPE learnt on one language's text spends fewer tokens on that language; bytes cost every script what UTF-8
costs it (1 byte per ASCII letter, 2 per Cyrillic or accented Latin letter, 3 per CJK character). Bits/token is
then exactly bits/byte: the transcript's information per byte, comparable across languages up to that encoding.
"""

from __future__ import annotations

import sys

import numpy as np

from audiobits.bins import Codebook
from audiobits.representations.base import Representation, Utterance, check_transcript


class Utf8Representation(Representation):
    """Bytes 0..255 of each UTF-8 transcript as ids; id 256 ends an utterance."""

    name = "utf8"
    vocab_size = 257
    eos_id = 256
    codebooks = [Codebook(256, None)]  # variable rate: tokens/s is measured, as for text
    flattening = "none"
    weights = "none"

    def encoder_info(self) -> dict:
        return {"name": "UTF-8 bytes of the transcript", "package": "python",
                "version": ".".join(map(str, sys.version_info[:3])), "weights": self.weights}

    def check(self, utterance: Utterance) -> None:
        check_transcript(utterance, "utf8 tokens are its bytes")

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        for utterance in batch:
            self.check(utterance)
        return [np.frombuffer(u.text.encode("utf-8"), dtype=np.uint8).astype(np.int64) for u in batch]
