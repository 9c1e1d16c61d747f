"""How far a run is from simple statistics, from the end of its training and from the truth: the k-gram record's
paired comparison, the still-learning drop and the gap to a known source's truth, each on numbers known exactly."""

from types import SimpleNamespace

import numpy as np
import pytest

from audiobits.analysis.baselines import kgram_nats, kgram_record
from audiobits.bins import TokenBins
from audiobits.scaling.calibrate import write_source_bins
from audiobits.scaling.hmm import random_source as random_hmm
from audiobits.analysis.known_truth import TRUE_VAL_KEY, truth_record
from audiobits.analysis.learning_curve import STILL_LEARNING_DROP, still_learning_record, tail_drop
from audiobits.results import ValidationSums
from audiobits.analysis.sanity import check_kgram, check_still_learning, check_truth
from audiobits.demo.synthetic import write_copy_bins, write_markov_bins


@pytest.fixture(scope="module")
def markov(tmp_path_factory):
    out = tmp_path_factory.mktemp("markov") / "bins"
    source = write_markov_bins(out, vocab=16, utterance_len=50, train_utterances=400, val_utterances=40)
    return TokenBins(out), source


def headline(nats_per_utterance: np.ndarray, tokens_per_utterance: np.ndarray) -> ValidationSums:
    """A model's headline pass with the given per-utterance nats (phases unused by the k-gram record)."""
    return ValidationSums(nats_per_utterance, tokens_per_utterance, np.zeros(2), np.zeros(2, np.int64))


def test_a_model_is_flagged_unless_it_beats_the_best_k_gram_beyond_noise(markov):
    bins, source = markov
    train, val = bins.split("train"), bins.split("val")
    by_order = kgram_nats(train, val, bins.meta.vocab_size)
    targets = np.diff(val.offsets)
    targets[0] -= 1
    # Order 1 knows only the token counts; the chain is first order, so the bigram is (near) the best.
    record = kgram_record(train, val, bins.meta.vocab_size, headline(by_order[1], targets), resamples=2000)
    assert record.best_order >= 2 and record.best_bits_per_token < record.orders[0].bits_per_token - 0.5
    assert record.beats_best is False and record.gain_bits_per_sec < 0  # a unigram-level model: flagged
    assert "has not learned beyond k-gram statistics" in check_kgram(SimpleNamespace(kgram=record)).detail
    tie = kgram_record(train, val, bins.meta.vocab_size, headline(by_order[record.best_order], targets), 2000)
    assert tie.gain_bits_per_sec == pytest.approx(0, abs=1e-9) and tie.beats_best is False  # no gain: flagged
    better = kgram_record(train, val, bins.meta.vocab_size, headline(0.97 * by_order[record.best_order], targets),
                          2000)
    assert better.beats_best and better.gain_bits_per_sec_ci95[0] > 0
    assert check_kgram(SimpleNamespace(kgram=better)).status == "pass"
    partial = kgram_record(train, val, bins.meta.vocab_size, headline(by_order[1][1:], targets[1:]), 2000)
    assert partial.beats_best is None and check_kgram(SimpleNamespace(kgram=partial)).status == "skip"


def test_k_gram_rates_count_every_val_target_once_over_the_true_seconds(markov):
    bins, _ = markov
    val = bins.split("val")
    record = kgram_record(bins.split("train"), val, bins.meta.vocab_size, headline(np.ones(1), np.ones(1, int)), 10)
    for order in record.orders:
        assert order.bits_per_sec == pytest.approx(order.bits_per_token * (val.num_tokens - 1)
                                                      / val.seconds.sum())


def test_tail_drop_interpolates_at_ninety_percent_of_training():
    assert tail_drop([0, 50, 100], [5.0, 4.0, 3.0]) == pytest.approx(0.2)  # 3.2 at 90 on a straight line
    assert tail_drop([25, 50, 75, 100], [4.0, 3.5, 3.3, 3.2]) == pytest.approx(0.04)  # 3.24 at 90 between 75 and 100
    assert tail_drop([100], [3.0]) is None and tail_drop([95, 100], [3.1, 3.0]) is None  # nothing before the mark


def test_still_learning_is_flagged_above_its_threshold_and_unknown_without_a_curve():
    falling = still_learning_record([(25, 4.0), (50, 3.5), (75, 3.3), (100, 3.2)])  # 1.25 % over the last tenth
    assert falling.still_learning and falling.drop_relative == pytest.approx(0.04 / 3.2)
    assert STILL_LEARNING_DROP < falling.drop_relative and check_still_learning(
        SimpleNamespace(still_learning=falling)).status == "warn"
    flat = still_learning_record([(25, 3.5), (75, 3.21), (100, 3.2)])
    assert flat.still_learning is False and check_still_learning(SimpleNamespace(still_learning=flat)).status == "pass"
    unknown = still_learning_record([(100, 3.2)])
    assert unknown.still_learning is None and "val_check_interval" in unknown.why_unknown
    assert check_still_learning(SimpleNamespace(still_learning=unknown)).status == "skip"


def results(bits_per_token: float, half_width_bits: float = 0.05, scored: float = 1.0,
            truth=None) -> SimpleNamespace:
    """The fields of a `Results` the truth record and its check read."""
    headline = SimpleNamespace(bits_per_token=bits_per_token, tokens_per_sec=50.0, bits_per_sec_ci95=[
        50 * (bits_per_token - half_width_bits), 50 * (bits_per_token + half_width_bits)])
    return SimpleNamespace(headline=headline, val_scored_fraction=scored, truth=truth)


def test_the_gap_to_the_truth_is_a_ratio_and_a_run_below_it_beyond_noise_is_a_leak():
    encoder = {TRUE_VAL_KEY: 2.0, "entropy_rate_bits_per_token": 2.01}
    above = truth_record(encoder, results(2.2))
    assert above.ratio == pytest.approx(1.1) and not above.below_truth
    assert check_truth(results(2.2, truth=above)).status == "pass"
    assert not truth_record(encoder, results(1.97)).below_truth  # within noise (0.05) of the truth
    leak = truth_record(encoder, results(1.5))
    assert leak.below_truth and check_truth(results(1.5, truth=leak)).status == "fail"
    assert truth_record(encoder, results(1.5, scored=0.5)).ratio is None  # not the targets the truth scored
    assert truth_record({"name": "mimi"}, results(2.0)) is None


def test_synthetic_and_calibration_bins_record_the_true_score_of_their_val_targets(tmp_path, markov):
    bins, source = markov
    val_stream = np.asarray(bins.split("val").tokens, dtype=np.int64)
    assert bins.meta.encoder[TRUE_VAL_KEY] == pytest.approx(source.oracle_bits(val_stream))
    copy = write_copy_bins(tmp_path / "copy", utterance_len=40, train_utterances=5, val_utterances=6)
    copy_val = np.asarray(TokenBins(tmp_path / "copy").split("val").tokens, dtype=np.int64)
    assert TokenBins(tmp_path / "copy").meta.encoder[TRUE_VAL_KEY] == pytest.approx(copy.oracle_bits(copy_val))
    hmm = random_hmm(16, 12, np.bincount([20, 30, 40]), emissions=4)
    truth = write_source_bins(tmp_path / "hmm", hmm, {"train": 10, "val": 8}, seed=1)
    assert TokenBins(tmp_path / "hmm").meta.encoder[TRUE_VAL_KEY] == pytest.approx(truth["true_bits_per_token"])


def test_an_order_two_chain_records_its_truth_and_only_the_trigram_reaches_it(tmp_path):
    source = write_markov_bins(tmp_path / "m2", vocab=8, utterance_len=200, train_utterances=300, val_utterances=60,
                               order=2)
    bins = TokenBins(tmp_path / "m2")
    assert source.order == 2 and bins.meta.encoder["order"] == 2
    train = np.asarray(bins.split("train").tokens, dtype=np.int64)
    val = np.asarray(bins.split("val").tokens, dtype=np.int64)
    truth = bins.meta.encoder[TRUE_VAL_KEY]
    assert truth == pytest.approx(source.oracle_bits(val, before=train[-2:-1]))  # the chain runs on from train
    assert abs(truth - source.entropy_rate) < 0.05
    record = kgram_record(bins.split("train"), bins.split("val"), 9, headline(np.ones(1), np.ones(1, int)), 10)
    by_order = {o.order: o.bits_per_token for o in record.orders}
    assert by_order[2] > truth + 0.2 and truth <= by_order[3] < truth + 0.1 and record.best_order >= 3


def test_the_history_chain_of_a_first_order_source_is_its_transition_matrix():
    from audiobits.metrics import markov_entropy_rate
    from audiobits.demo.synthetic import random_source
    source = random_source(vocab=5, utterance_len=10, concentration=0.5, seed=3)
    np.testing.assert_allclose(source.history_chain(), source.transition)
    assert source.entropy_rate == pytest.approx(markov_entropy_rate(source.transition) * 10 / 11)
