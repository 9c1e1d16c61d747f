"""Per-language results: each language's sums give its own bits/token, tokens/s, bits/s and interval."""

import math

import numpy as np
import pytest

from audiobits.bins import SplitBins
from audiobits.results import score_languages
from audiobits.results import ValidationSums, per_language

LN2 = math.log(2)


def test_each_language_sums_only_its_scored_utterances():
    languages = np.array(["en", "fr", "en", "fr", "ru"])
    nats = np.array([10.0, 20.0, 30.0, 40.0, 5.0]) * LN2  # bits 10, 20, 30, 40, 5
    tokens = np.array([5, 10, 5, 10, 0])  # the ru utterance was not scored
    seconds = np.array([1.0, 2.0, 3.0, 4.0, 1.0])
    scores = score_languages(languages, nats, tokens, seconds, resamples=200)
    assert list(scores) == ["en", "fr"]
    en, fr = scores["en"], scores["fr"]
    assert en.bits_per_sec == pytest.approx(40 / 4) and fr.bits_per_sec == pytest.approx(60 / 6)
    assert en.bits_per_token == pytest.approx(40 / 10) and fr.bits_per_token == pytest.approx(60 / 20)
    assert (en.tokens_per_sec, en.utterances, en.seconds, en.speakers) == (pytest.approx(10 / 4), 2, 4.0, None)
    assert en.ci_kind == "utterances" and 30 / 3 - 1e-9 <= en.bits_per_sec_ci95[0] <= en.bits_per_sec_ci95[1] <= 10


def test_the_interval_resamples_speakers_only_where_a_language_has_two():
    languages = np.array(["en"] * 4 + ["it"] * 2)
    speakers = np.array(["a", "a", "b", "b", "c", "c"])
    scores = score_languages(languages, np.ones(6), np.ones(6, int), np.ones(6), speakers, resamples=100)
    assert (scores["en"].ci_kind, scores["en"].speakers) == ("speakers", 2)
    assert (scores["it"].ci_kind, scores["it"].speakers) == ("utterances", 1)


def test_results_split_the_pass_by_the_bins_languages(tmp_path):
    offsets = np.array([0, 4, 8, 12])
    split = SplitBins(tmp_path / "val.bin", np.dtype("uint16"), 10, offsets, np.array(["a", "b", "c"]),
                      np.array([1.0, 2.0, 1.0]), np.array([3, 3, 3]), languages=np.array(["en", "fr", "en"]))
    sums = ValidationSums(np.array([3.0, 4.0, 4.0]) * LN2, np.array([3, 4, 4]), np.zeros(2), np.zeros(2, int))
    block = per_language(split, sums, resamples=50)
    assert block["en"].bits_per_sec == pytest.approx(7 / 2) and block["fr"].bits_per_sec == pytest.approx(2)
    unlabelled = SplitBins(tmp_path / "val.bin", np.dtype("uint16"), 10, offsets, np.array(["a", "b", "c"]),
                           np.ones(3), np.ones(3, int))
    assert per_language(unlabelled, sums) == {}
