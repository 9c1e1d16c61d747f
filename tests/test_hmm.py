"""The calibration source: exact forward scores, EOS from the length hazard, and a source a model can learn."""

import itertools
import math

import numpy as np
import pytest

from audiobits.scaling.hmm import forward_bits, random_source, sample_states, sample_symbols, stream_bits

LENGTHS = np.array([0, 0, 0.5, 0.25, 0.25])  # utterances of 2, 3 or 4 content tokens


def test_forward_matches_brute_force_over_all_state_paths():
    source = random_source(states=3, vocab=4, length_probs=LENGTHS, emissions=3, successors=2, stay=0.6, seed=1)
    rng = np.random.default_rng(0)
    symbols = sample_symbols(source, sample_states(source, 5, rng, start=0), rng)
    prior = source.stationary
    total = 0.0
    for path in itertools.product(range(3), repeat=len(symbols) + 1):  # the state before the first symbol, then each
        p = prior[path[0]]
        for t, x in enumerate(symbols):
            p *= source.transition[path[t], path[t + 1]] * source.emission[path[t + 1], x]
        total += p
    assert forward_bits(source, symbols).sum() == pytest.approx(-math.log2(total), rel=1e-12)


def test_stream_bits_are_a_probability_distribution_over_the_next_token():
    """For each position the true source's predictive distribution (EOS included) sums to one: checked by scoring
    every possible next token after a fixed history."""
    source = random_source(states=4, vocab=5, length_probs=LENGTHS, emissions=3, successors=2, stay=0.7, seed=2)
    rng = np.random.default_rng(0)
    history = sample_symbols(source, sample_states(source, 3, rng, start=0), rng)
    lengths = np.array([3])
    prefix = stream_bits(source, lengths, history)[:3].sum()
    total = 2 ** -stream_bits(source, lengths, history)[3]  # EOS after 3 content tokens
    for x in range(5):  # or a fourth content token, then EOS (length 4 is the longest)
        with np.errstate(divide="ignore"):  # symbols no reachable state emits have probability 0
            bits = stream_bits(source, np.array([4]), np.append(history, x))
        total += 2 ** -(bits[:4].sum() - prefix)
    assert total == pytest.approx(1.0, rel=1e-12)


def test_sampled_stream_scores_its_own_entropy_and_beats_a_bigram_model():
    """On a long sample the exact score sits below what an order-1 model fitted to the same stream achieves: the
    hidden state carries information no single previous token holds."""
    source = random_source(states=64, vocab=32, length_probs=[0, 0, 0, 0, 0, 1.0], emissions=4, successors=3,
                           stay=0.9, seed=3)
    rng = np.random.default_rng(0)
    states = sample_states(source, 60_000, rng, start=0)
    symbols = sample_symbols(source, states, rng)
    assert np.all(source.emission[states, symbols] > 0)  # every symbol is one its state emits
    exact = forward_bits(source, symbols)[1000:].mean()
    pairs = np.zeros((32, 32))
    np.add.at(pairs, (symbols[:-1], symbols[1:]), 1)
    conditional = pairs / pairs.sum(axis=1, keepdims=True)
    bigram = -np.log2(conditional[symbols[1000:-1], symbols[1001:]]).mean()
    assert exact < bigram - 0.1
