"""Is the run still learning? The validation curve's bits/token drop over the last 10 % of training.

Every validation pass during fit (non-overlapping windows, the same pass each time) adds one point (training
tokens so far, bits/token) to results.json's ``val_curve``. The value at 90 % of the final training tokens is read
off the curve by linear interpolation between the two points around it; on a curve that falls and flattens (convex)
the chord lies above the curve, so the drop is, if anything, overstated — a run is flagged a little early rather
than late. Threshold: a drop of more than 1 % of the final bits/token. For a power law in data, L = E + B/D^β with
β ≈ 0.3 (Chinchilla; Hoffmann et al. 2022), the drop over the last tenth is β·ln(1/0.9) ≈ 0.03 of B/D^β while
doubling the data takes 1 − 2^−β ≈ 0.19 of it off: about 6 × the drop. A 1 % drop thus says another epoch or a
larger data set would lower the figure by several per cent, more than a typical bootstrap interval's half-width:
the number is a snapshot of training, not of the stream.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audiobits.results import StillLearning

TAIL = 0.10  # the last tenth of training
STILL_LEARNING_DROP = 0.01  # relative drop over the tail above which the run is flagged (module docstring: why)


def tail_drop(tokens: Sequence[float], bits_per_token: Sequence[float], tail: float = TAIL) -> float | None:
    """bits/token at (1 − ``tail``) of the final training tokens (linear interpolation) minus the final bits/token;
    None when no point lies at or before that mark (the curve cannot say)."""
    tokens, bits = np.asarray(tokens, float), np.asarray(bits_per_token, float)
    if tokens.size < 2:
        return None
    order = np.argsort(tokens, kind="stable")
    tokens, bits = tokens[order], bits[order]
    mark = (1.0 - tail) * tokens[-1]
    if tokens[0] > mark:
        return None
    return float(np.interp(mark, tokens, bits) - bits[-1])


def still_learning_record(curve: Sequence[tuple[int, float]]) -> StillLearning:
    """The ``still_learning`` block of results.json from the (training tokens, bits/token) points of fit."""
    tokens = [t for t, _ in curve]
    bits = [b for _, b in curve]
    drop = tail_drop(tokens, bits)
    relative = None if drop is None else drop / bits[int(np.argmax(tokens))]
    return StillLearning(tail=TAIL, threshold_relative=STILL_LEARNING_DROP, drop_bits_per_token=drop,
                         drop_relative=relative,
                         still_learning=None if relative is None else relative > STILL_LEARNING_DROP,
                         why_unknown=None if drop is not None else
                         f"no validation point at or before {1 - TAIL:.0%} of training: validate more often "
                         "(trainer.val_check_interval) to see the curve's end")
