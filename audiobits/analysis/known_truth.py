"""The gap to the truth on sources of known entropy (``results.json``'s ``truth`` block).

Bins written by `audiobits synthetic` (Markov, copy) and by `audiobits calibrate` (the hidden Markov source) record in
meta.json's ``encoder`` the exact score the true source gives their val targets (``true_val_bits_per_token``: every
target but the split's first, given the whole past of the stream, end-of-utterance tokens included) and, where it
has one, the source's stationary entropy rate. A trained model scores the same targets, so bits/token ÷ truth is its
distance from the best any model can do on average. No model can beat the truth on held-out data beyond noise: a
run more than its bootstrap half-width below it is leaking the future (``below_truth``), an error.
"""

from __future__ import annotations

from audiobits.results import Results, Truth

TRUE_VAL_KEY = "true_val_bits_per_token"
ENTROPY_RATE_KEY = "entropy_rate_bits_per_token"


def truth_record(encoder: dict, results: Results) -> Truth | None:
    """Ratio of the run's headline bits/token to the true score of the same val targets, and whether it lies below
    it by more than the half-width of its bootstrap interval (in bits/token). None: the bins record no truth."""
    truth = encoder.get(TRUE_VAL_KEY)
    if truth is None:
        return None
    b = results.headline.bits_per_token
    low, high = results.headline.bits_per_sec_ci95
    noise = (high - low) / 2.0 / results.headline.tokens_per_sec
    whole = results.val_scored_fraction >= 1.0  # the truth covers every target: a partial pass is not comparable
    return Truth(true_bits_per_token=truth, entropy_rate_bits_per_token=encoder.get(ENTROPY_RATE_KEY),
                 ratio=b / truth if whole else None, gap_bits_per_token=b - truth if whole else None,
                 noise_bits_per_token=noise, below_truth=(b < truth - noise) if whole else None)
