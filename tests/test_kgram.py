"""Interpolated Kneser–Ney baselines equal a brute-force count of the same formulas, are proper distributions, and
reach the truth of a first-order Markov source."""

from collections import Counter

import numpy as np
import pytest

from audiobits.analysis.kgram import fit_kneser_ney, kneser_ney_bits, orders_for
from audiobits.demo.synthetic import random_source, sample_chain


def brute_force_probability(train: list[int], vocab: int, order: int, history: tuple, word: int) -> float:
    """Interpolated KN written the slow way: dictionaries of every n-gram's raw or continuation count."""
    grams = {n: Counter(tuple(train[i:i + n]) for i in range(len(train) - n + 1)) for n in range(1, order + 1)}
    counts = {order: grams[order]}
    for n in range(order - 1, 0, -1):
        counts[n] = Counter(g[1:] for g in counts[n + 1])  # distinct left neighbours of each n-gram

    def p(n: int, h: tuple) -> float:
        if n == 0:
            return 1.0 / vocab
        table = counts[n]
        ones = sum(1 for c in table.values() if c == 1)
        twos = sum(1 for c in table.values() if c == 2)
        d = ones / (ones + 2 * twos) if ones + twos else 0.5
        following = {g: c for g, c in table.items() if g[:-1] == h}
        total = sum(following.values())
        lower = p(n - 1, h[1:])
        if total == 0:
            return lower
        return (max(following.get(h + (word,), 0) - d, 0) + d * len(following) * lower) / total

    level = min(order, len(history) + 1)  # the first targets: the order their history allows, same tables
    return p(level, tuple(history[len(history) - level + 1:]) if level > 1 else ())


@pytest.mark.parametrize("order", [1, 2, 3])
def test_kneser_ney_equals_brute_force_counts_on_a_small_source(order):
    rng = np.random.default_rng(order)
    vocab = 5
    train = rng.integers(0, vocab, 300)
    train[::7] = 0  # some structure, so counts of 1 and 2 both occur at every order
    val = np.concatenate([rng.integers(0, vocab, 40), [4, 4, 4, 4]])  # ends on a history train may never show
    bits = kneser_ney_bits(fit_kneser_ney(train, vocab, order), val, vocab)
    expected = [-np.log2(brute_force_probability(train.tolist(), vocab, order, tuple(val[:t]), val[t]))
                for t in range(1, len(val))]
    assert bits.shape == (len(val) - 1,)
    np.testing.assert_allclose(bits, expected, rtol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_each_history_gives_a_distribution_over_the_whole_vocabulary(order):
    rng = np.random.default_rng(0)
    vocab = 6
    train = rng.integers(0, vocab - 1, 500)  # id 5 is never seen: it still gets probability > 0
    tables = fit_kneser_ney(train, vocab, order)
    for history in ([0, 1], [3, 3], [5, 5]):
        p = [2.0 ** -kneser_ney_bits(tables, np.array([*history, w]), vocab)[-1] for w in range(vocab)]
        assert sum(p) == pytest.approx(1.0, abs=1e-12) and min(p) > 0


def test_the_bigram_baseline_reaches_a_markov_sources_truth_and_higher_orders_do_not_overfit():
    source = random_source(vocab=16, utterance_len=10**9, concentration=0.3, seed=0)
    rng = np.random.default_rng(1)
    train, val = sample_chain(source, 50_000, rng), sample_chain(source, 20_000, rng)
    truth = source.oracle_bits(val)
    bits = {k: kneser_ney_bits(fit_kneser_ney(train, 16, k), val, 16).mean() for k in (1, 2, 3)}
    assert bits[1] > truth + 0.5  # the unigram knows nothing of the chain
    assert truth < bits[2] < truth + 0.02 and bits[3] < truth + 0.05


def test_orders_stop_where_the_keys_would_overflow():
    assert orders_for(256) == [1, 2, 3, 4]
    assert orders_for(65537) == [1, 2, 3]
    with pytest.raises(ValueError, match="order 4 unavailable for vocab 65537"):
        fit_kneser_ney(np.zeros(10, np.int64), 65537, 4)
