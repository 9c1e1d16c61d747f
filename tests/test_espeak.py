"""espeak-ng through ctypes: speech comes out at its rate, phonemes come from the voice's own inventory."""

import numpy as np
import pytest

from audiobits.demo.demo import demo_text
from audiobits.representations.espeak import WORD_BOUNDARY, Espeak, EspeakError, _cut


@pytest.fixture(scope="module")
def espeak():
    return Espeak("en-us")


def test_synthesize_gives_speech_of_plausible_length(espeak):
    audio = espeak.synthesize("Alice was beginning to get very tired of sitting by her sister.")
    seconds = len(audio) / espeak.sample_rate
    assert espeak.sample_rate == 22050 and audio.dtype == np.float32
    assert 2.0 < seconds < 8.0  # 12 words at espeak's 175 words/minute ≈ 4 s
    assert np.abs(audio).max() <= 1.0 and np.sqrt(np.mean(audio**2)) > 0.01


def test_phonemes_split_stress_and_words(espeak):
    names = espeak.phonemes("hello world")
    assert names.count(WORD_BOUNDARY) == 1
    assert names[0] == "h" and "'" in names  # primary stress is a token of its own
    assert all(n in espeak.inventory() for n in names)


def test_the_whole_demo_text_stays_inside_the_inventory(espeak):
    inventory = set(espeak.inventory())
    names = espeak.phonemes(demo_text())
    assert len(names) > 10000 and set(names) <= inventory
    assert 40 < len(set(names)) < len(inventory)


def test_cut_splits_glued_marks_and_keeps_unknown_rest():
    names = {"'", "_:", "aI", "a", "I"}
    assert _cut("_:'aI", names, 2) == ["_:", "'", "aI"]
    assert _cut("'aQQ", names, 2) == ["'", "a", "QQ"]


def test_unknown_voice_is_an_error_naming_it():
    with pytest.raises(EspeakError, match="no voice 'xx-nonexistent'"):
        Espeak("xx-nonexistent")


def test_a_language_code_picks_its_voice_preferred_then_exact_then_base():
    from audiobits.representations.espeak import voice_for

    assert [voice_for(code) for code in ("en", "en-GB", "es_MX", "fr-CA", "ru", "zh")] == \
        ["en-us", "en", "es-419", "fr", "ru", "cmn"]  # espeak-ng's "en" voice is British English
    with pytest.raises(EspeakError, match="no voice for language 'tlh'"):
        voice_for("tlh")


def test_voices_whose_first_language_names_no_table_still_find_theirs():
    """lang/gmw/en declares ``en-gb`` first (phontab's table is ``en``), lang/roa/fr ``fr-fr`` (table ``fr``)."""
    assert {"T", "D"} <= set(Espeak("en").inventory()) and "y" in Espeak("fr").inventory()
