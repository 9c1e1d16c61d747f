"""The utf8 representation: a transcript's UTF-8 bytes are its tokens, whatever the script."""

import numpy as np
import pytest

from audiobits import metrics
from audiobits.representations import build
from audiobits.representations.base import Utterance, UtteranceError


def test_tokens_are_the_utf8_bytes_of_any_script():
    rep = build("utf8")
    texts = ["Goodbye", "До свидания", "Au revoir, ça va", "再见"]
    ids = rep.encode([Utterance(str(i), t) for i, t in enumerate(texts)])
    for text, tokens in zip(texts, ids):
        assert bytes(tokens.astype(np.uint8)).decode("utf-8") == text and tokens.dtype == np.int64
    assert [len(t) for t in ids] == [7, 21, 17, 6]  # Cyrillic 2 bytes a letter, CJK 3, ç 2
    meta = rep.bin_meta("c")
    assert (meta.vocab_size, meta.eos_id, meta.dtype) == (257, 256, "uint16")
    assert metrics.flat_capacity(meta.vocab_size - 1, 10.0) == 80.0  # 8 bits a byte at 10 bytes/s


def test_an_empty_transcript_is_dropped():
    with pytest.raises(UtteranceError, match="empty"):
        build("utf8").encode([Utterance("e", " ")])
