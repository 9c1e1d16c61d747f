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
    assert [rep.inventory[i] for i in ids] == rep.voices[None].phonemes(text)
    batch = rep.encode([Utterance("a", "Alice"), Utterance("b", text)])
    assert np.array_equal(batch[1], ids)  # batching does not change an utterance's tokens


def test_empty_transcript_is_rejected(rep):
    with pytest.raises(UtteranceError, match="empty"):
        rep.encode([Utterance("e", "  ")])


@pytest.fixture(scope="module")
def five():
    return PhonemeRepresentation(languages=["en", "es", "fr", "it", "ru"])


def test_each_utterance_is_read_in_its_own_language(five):
    from audiobits.representations.espeak import Espeak

    said = {"es": "hasta pronto", "fr": "au revoir", "it": "arrivederci", "ru": "до свидания", "en": "goodbye"}
    voices = {"en": "en-us", "es": "es", "fr": "fr", "it": "it", "ru": "ru"}
    for language, text in said.items():
        [ids] = five.encode([Utterance(language, text, language=language)])
        assert [five.inventory[i] for i in ids] == Espeak(voices[language]).phonemes(text)
    # the same letters read as French and as Spanish give other phonemes: the language, not the text, picks them
    [fr], [es] = (five.encode([Utterance("x", "pronto", language=lang)]) for lang in ("fr", "es"))
    assert not np.array_equal(fr, es)


def test_vocab_is_the_union_of_the_languages_inventories(five):
    from audiobits.representations.espeak import Espeak

    union = set().union(*(Espeak(v).inventory() for v in ("en-us", "es", "fr", "it", "ru")))
    assert five.inventory == sorted(union) and five.vocab_size == len(union) + 1
    assert "ru: ru" in five.bin_meta("c").encoder["weights"]


def test_an_utterance_outside_the_languages_is_dropped_with_the_reason(five):
    with pytest.raises(UtteranceError, match="'de', not one of the phoneme languages"):
        five.encode([Utterance("d", "guten Tag", language="de")])
    with pytest.raises(UtteranceError, match="None, not one of"):
        five.check(Utterance("n", "hello"))


def test_a_language_espeak_lacks_fails_at_once_naming_it():
    from audiobits.errors import AudiobitsError

    with pytest.raises(AudiobitsError, match="phonemes: espeak-ng has no voice for language 'tlh'"):
        PhonemeRepresentation(languages=["en", "tlh"])
