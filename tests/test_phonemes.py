"""The espeak phoneme representation: a fixed vocab from espeak's tables, ids that map back to phonemes."""

import numpy as np
import pytest

from audiobits import metrics
from audiobits.representations.base import Utterance, UtteranceError
from audiobits.representations.phonemes import PhonemeRepresentation


@pytest.fixture(scope="module")
def rep():
    return PhonemeRepresentation()


def test_vocab_is_the_inventory_plus_eos(rep):
    meta = rep.bin_meta("demo")
    assert meta.vocab_size == len(rep.inventory) + 1 == rep.eos_id + 1
    assert meta.encoder["inventory"] == rep.inventory and meta.dtype == "uint16"
    assert meta.codebooks[0].size == len(rep.inventory) and meta.codebooks[0].frame_rate is None
    # Variable-rate like text: the nominal bitrate uses the measured rate.
    assert metrics.nominal_bitrate(meta.codebooks, 10.0) == pytest.approx(10 * np.log2(len(rep.inventory)))


def test_ids_decode_to_espeaks_phonemes(rep):
    text = "Down, down, down. Would the fall never come to an end?"
    [ids] = rep.encode([Utterance("u", text)])
    assert ids.dtype == np.int64 and ids.max() < rep.eos_id
    assert [rep.inventory[i] for i in ids] == rep.espeak.phonemes(text)
    batch = rep.encode([Utterance("a", "Alice"), Utterance("b", text)])
    assert np.array_equal(batch[1], ids)  # batching does not change an utterance's tokens


def test_empty_transcript_is_rejected(rep):
    with pytest.raises(UtteranceError, match="empty"):
        rep.encode([Utterance("e", "  ")])
