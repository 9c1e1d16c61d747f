"""The k-gram baselines of one run (``results.json``'s ``kgram`` block): what simple statistics already reach on
exactly the run's validation targets, and whether the trained model beats the best of them beyond noise.

Each order of :mod:`audiobits.analysis.kgram` is fitted on the run's train split and scores every val target (all but
the split's first token) from the k − 1 tokens before it, across utterance ends as the headline's sliding windows do.
The comparison is paired: per utterance, the baseline's nats minus the model's headline nats on the same targets,
bootstrapped over speakers (else utterances) into a 95 % interval on the gain in bits/sec. A run whose interval does
not lie above zero "has not learned beyond k-gram statistics".
"""

from __future__ import annotations

import numpy as np

from audiobits import metrics
from audiobits.bins import SplitBins
from audiobits.analysis.kgram import fit_kneser_ney, kneser_ney_bits, orders_for
from audiobits.results import Kgram, KgramOrder, ValidationSums

LN2 = np.log(2.0)
METHOD = ("interpolated Kneser-Ney (Chen & Goodman 1998), fitted on the train split; each val target scored from "
          "the k-1 tokens before it, history running across utterances as in the headline")


def nats_per_utterance(split: SplitBins, bits: np.ndarray) -> np.ndarray:
    """Per-target bits of targets 1 … N − 1 of ``split`` summed per utterance, in nats."""
    utterance = split.utterance_of(np.arange(1, split.num_tokens))
    return np.bincount(utterance, bits * LN2, minlength=len(split.ids))


def kgram_nats(train: SplitBins, val: SplitBins, vocab_size: int) -> dict[int, np.ndarray]:
    """Per order, the k-gram model's nats per val utterance."""
    train_tokens = train.read(0, train.num_tokens).astype(np.int64)
    val_tokens = val.read(0, val.num_tokens).astype(np.int64)
    return {k: nats_per_utterance(val, kneser_ney_bits(fit_kneser_ney(train_tokens, vocab_size, k), val_tokens,
                                                       vocab_size))
            for k in orders_for(vocab_size)}


def kgram_record(train: SplitBins, val: SplitBins, vocab_size: int, headline: ValidationSums,
                 resamples: int = 10_000, seed: int = 0) -> Kgram:
    """Every order's bits/token and bits/sec on the val targets, the best order, and the model's paired gain over
    it (``beats_best``: None when the headline did not score every target, so no paired comparison exists)."""
    seconds = float(val.seconds.sum())
    targets = val.num_tokens - 1
    by_order = kgram_nats(train, val, vocab_size)
    orders = [KgramOrder(order=k, bits_per_token=metrics.bits_per_token(float(n.sum()), targets),
                         bits_per_sec=metrics.bits_per_second(float(n.sum()), seconds)) for k, n in by_order.items()]
    best = min(orders, key=lambda o: o.bits_per_token)
    record = Kgram(method=METHOD, orders=orders, best_order=best.order, best_bits_per_token=best.bits_per_token,
                   best_bits_per_sec=best.bits_per_sec, gain_bits_per_sec=None, gain_bits_per_sec_ci95=None,
                   gain_ci_kind=None, beats_best=None)
    full_pass = headline.tokens == targets
    if full_pass:
        gain = by_order[best.order] - headline.nats_per_utterance
        clusters = val.speakers
        record.gain_bits_per_sec = metrics.bits_per_second(float(gain.sum()), seconds)
        record.gain_bits_per_sec_ci95 = list(metrics.bootstrap_bits_per_second(
            gain, val.seconds, resamples=resamples, seed=seed, clusters=clusters))
        record.gain_ci_kind = "speakers" if clusters is not None else "utterances"
        record.beats_best = record.gain_bits_per_sec_ci95[0] > 0
    return record
