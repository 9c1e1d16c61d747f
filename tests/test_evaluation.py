"""The final evaluation does what it says: sliding windows help when the source has long-range structure.

Copy source (a symbol repeats the one 32 back, seq_len 64): half the non-overlapping targets cannot see their copy,
every sliding one can — the sliding score is clearly lower and bits/token falls once the context reaches the copy.
(The order-1 Markov counterpart, where sliding changes nothing and the curve is flat, rides on the Markov fit of
tests/test_cli.py.)
"""

import numpy as np
import pytest

from audiobits.bins import TokenBins
from results_file import results_json
from audiobits.demo.synthetic import write_copy_bins
from test_cli import fit


def by_context(results: dict, min_tokens: int = 1000) -> list[tuple[int, float]]:
    """(lowest context tokens, bits/token) of the well-filled context buckets."""
    return [(b["context_tokens"][0], b["bits_per_token"]) for b in results["bits_by_context"]
            if b["tokens"] >= min_tokens]


@pytest.mark.slow
def test_sliding_windows_on_a_long_range_source_score_clearly_lower(tmp_path):
    bins_dir = tmp_path / "copy"
    source = write_copy_bins(bins_dir, distance=32, utterance_len=200, train_utterances=750, val_utterances=40)
    results = results_json(fit(tmp_path, bins_dir, "--data.init_args.utterance_reset", "true")[-1])
    oracle = source.oracle_bits(np.asarray(TokenBins(bins_dir).split("val").tokens, dtype=np.int64))
    sliding, non_overlapping = results["bits_per_token"], results["non_overlapping"]["bits_per_token"]
    assert sliding >= oracle - 0.02
    assert sliding < non_overlapping - 0.5, (sliding, non_overlapping)
    curve = dict(by_context(results, min_tokens=100))
    assert curve[1] > curve[32] + 1.5 and curve[32] < curve[16] - 1.0  # the copy comes into view at 32 tokens
    # Utterance reset hides the copies of each 200-symbol utterance's first 32 symbols (16 % of its targets).
    assert results["utterance_reset"]["bits_per_token"] > sliding + 0.2
